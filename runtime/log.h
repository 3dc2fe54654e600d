/* Logging: levels, text or JSON lines on stderr, secrets redacted from every line. */
#ifndef RW_LOG_H
#define RW_LOG_H
#include <stddef.h>

typedef enum { RW_LOG_DEBUG, RW_LOG_INFO, RW_LOG_WARN, RW_LOG_ERROR, RW_LOG_OFF } rw_log_level;

typedef struct rw_log_field {
  const char *key;
  const char *value;    /* already a string */
  int is_raw;           /* value is a JSON literal (number, true/false) in JSON mode */
} rw_log_field;

int rw_log_set_level(const char *name);     /* 0 ok, -1 unknown name */
int rw_log_set_format(const char *name);    /* "text" | "json" */
rw_log_level rw_log_get_level(void);
int rw_log_enabled(rw_log_level level);
const char *rw_log_level_name(rw_log_level level);
int rw_log_level_from_name(const char *name);

/* Every string registered here, and its encodings (URL-encoded, base64 of "api:SECRET", base64
   at any alignment inside longer base64 text, base64url), is replaced by "***" in anything the
   log, print and the scripts' writes to stdout and stderr put out. */
void rw_log_add_secret(const char *secret, size_t len);
void rw_log_clear_secrets(void);
int rw_log_has_secrets(void);
/* Standard base64 with padding into out (room for (len + 2) / 3 * 4 + 1 bytes); its length. */
size_t rw_base64(const unsigned char *s, size_t len, char *out);
/* Copy of s with secrets replaced; caller frees. */
char *rw_redact(const char *s, size_t len, size_t *outlen);
/* The same into out (room for len + 1 bytes: the result is never longer); its length. */
size_t rw_redact_into(const char *s, size_t len, char *out);

void rw_log_fields(rw_log_level level, const char *script, const char *job, const char *msg,
                   const rw_log_field *fields, int nfields);
void rw_log(rw_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;
/* Write to stdout with secrets redacted (print, dry-run plans). */
void rw_out(const char *s, size_t len);

#endif
