# Bash completion (issue 17 item 5): the script the build makes from the command-line table
# (`runwatch help --completion bash`, installed as share/bash-completion/completions/runwatch)
# is loaded in bash and driven as bash does (COMP_WORDS, COMP_CWORD, the -F function):
# commands, each command's options, option values (log levels), script files and directories.
. "$(dirname "$0")/lib.sh"

$RW $LIB help --completion bash > "$tmp/runwatch.bash" && ok || bad "help --completion bash failed"
built="$(dirname "$RW_BIN")/runwatch.bash"
if [ -f "$built" ]; then
  cmp -s "$built" "$tmp/runwatch.bash" && ok || bad "the built completion differs from runwatch help --completion bash"
else
  bad "the build did not make $built"
fi
bash -n "$tmp/runwatch.bash" && ok || bad "the completion script is not valid bash"

# complete_words WORD... : the candidates bash would offer for the last word (one per line, sorted)
complete_words() {
  bash -c '
    source "$1"; shift
    spec=$(complete -p runwatch) || exit 3
    case $spec in *"-F _runwatch runwatch"*) ;; *) echo "complete -p: $spec" >&2; exit 4 ;; esac
    COMP_WORDS=(runwatch "$@"); COMP_CWORD=$#
    COMP_LINE="runwatch $*"; COMP_POINT=${#COMP_LINE}
    _runwatch
    printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$tmp/runwatch.bash" "$@"
}
# expect_words WORDS :: WANT... : the candidates are exactly WANT
expect_words() {
  local words=() want got
  while [ "$1" != "::" ]; do words+=("$1"); shift; done; shift
  got=$(cd "$tmp/files" && complete_words "${words[@]}" | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  [ "$got" = "$want" ] && ok || bad "runwatch ${words[*]}<TAB>: got [$got], want [$want]"
}
# expect_has WORDS :: WANT... : the candidates include WANT and none of the words after "!"
expect_has() {
  local words=() got
  while [ "$1" != "::" ]; do words+=("$1"); shift; done; shift
  got=" $(cd "$tmp/files" && complete_words "${words[@]}" | tr '\n' ' ') "
  for w in "$@"; do
    case $w in
      !*) case $got in *" ${w#!} "*) bad "runwatch ${words[*]}<TAB> offers ${w#!}: [$got]" ;; *) ok ;; esac ;;
      *) case $got in *" $w "*) ok ;; *) bad "runwatch ${words[*]}<TAB> lacks $w: [$got]" ;; esac ;;
    esac
  done
}

mkdir -p "$tmp/files/rules" "$tmp/files/wandb"
touch "$tmp/files/alerts.lua" "$tmp/files/notes.txt" "$tmp/files/rules/a.lua"

# commands
expect_words ex :: export
# every command --help lists (the table's rows), and nothing else
commands=$($RW $LIB --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
[ "$(echo "$commands" | wc -w)" -ge 8 ] && ok || bad "--help lists too few commands: [$commands]"
expect_words "" :: $commands
expect_words --state s.db st :: status
expect_words help ex :: export
# options: the command's own and the global ones, before or after the command
expect_words export --per :: --per-page
expect_has status -- :: --json --state --log-level --help '!--per-page' '!--since'
expect_has log --si :: --since
expect_has --l :: --log-level --log-format --local --lib-dir '!--limit'
expect_has once --d :: --dry-run
# option values: log levels, formats, after a space or an equals sign
expect_words --log-level w :: warn
expect_words once --log-level "" :: debug info warn error off
expect_words --log-level=e :: --log-level=error
expect_words export --format j :: json jsonl
# script files: *.lua and directories, not other files
expect_words once al :: alerts.lua
expect_has run "" :: alerts.lua rules '!notes.txt'
expect_has run --log-level info "" :: alerts.lua rules '!notes.txt'
# --local's optional DIR: directories, or the command when none is named yet
expect_has --local "" :: wandb rules once status '!notes.txt'
# inspect takes any path; --state any file
expect_has inspect "" :: notes.txt wandb
expect_has --state "" :: notes.txt alerts.lua

# the completion can fail: a script whose option list lost --json is caught
sed 's/ --json//g' "$tmp/runwatch.bash" > "$tmp/broken.bash"
got=$(cd "$tmp/files" && bash -c 'source "$1"; COMP_WORDS=(runwatch status --j); COMP_CWORD=2; _runwatch; echo "${COMPREPLY[*]}"' _ "$tmp/broken.bash")
[ -z "$got" ] && ok || bad "a completion without --json still offered [$got]"

finish
