# Sourced first by a test that needs a full disk: re-runs the test in a mount namespace of its
# own (unshare -rm: a user+mount namespace, no privilege needed where the kernel allows it; else
# unshare -m as root), where lib.sh's small_disk may mount a small tmpfs that nobody else sees.
# Where neither works, RW_CHAOS_NS stays empty and RW_CHAOS_NS_WHY says why.
if [ -z "${RW_CHAOS_NS:-}" ]; then
  if unshare -rm true 2>/dev/null; then RW_CHAOS_NS=user exec unshare -rm bash "$0" "$@"; fi
  if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then RW_CHAOS_NS=root exec unshare -m bash "$0" "$@"; fi
  RW_CHAOS_NS_WHY="unshare -rm failed ($(unshare -rm true 2>&1 | head -1)) and unshare -m needs root"
fi
