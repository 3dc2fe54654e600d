/* libFuzzer harness for the duration parser: no crash, values in range, messages well formed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s, err[256], small[9];
  double v = -1.0, v2 = -1.0;
  int rc, rc2;

  if (size > 4096) return 0;
  s = (char *)malloc(size + 2);
  if (!s) return 0;
  s[0] = ' ';
  memcpy(s + 1, data, size);
  s[size + 1] = '\0';
  rc = rw_duration_parse(s + 1, &v, err, sizeof err);
  rc2 = rw_duration_parse(s, &v2, small, sizeof small);   /* a leading space changes nothing */
  if (rc != rc2 || strlen(small) >= sizeof small) abort();
  if (rc == 0) {
    if (!isfinite(v) || v < 0.0 || v > RW_DURATION_MAX || v != v2) {
      fprintf(stderr, "fuzz_duration: \"%s\" gave %.17g and %.17g\n", s + 1, v, v2);
      abort();
    }
  }
  else if (rc != -1 || strncmp(err, "bad duration \"", 14) != 0 || strlen(err) >= sizeof err) {
    fprintf(stderr, "fuzz_duration: odd result %d: %s\n", rc, err);
    abort();
  }
  free(s);
  return 0;
}
