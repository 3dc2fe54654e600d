/* MD5 (RFC 1321) over bytes and files: W&B names artifact file contents by their MD5. */
#ifndef RW_MD5_H
#define RW_MD5_H
#include <stddef.h>
#include <stdint.h>

typedef struct rw_md5 {
  uint32_t h[4];
  uint64_t len;             /* bytes fed so far */
  unsigned char buf[64];    /* a partial block */
  size_t nbuf;
} rw_md5;

void rw_md5_init(rw_md5 *m);
void rw_md5_update(rw_md5 *m, const void *data, size_t n);
void rw_md5_final(rw_md5 *m, unsigned char out[16]);

/* The MD5 of a file's bytes, read in 64 KiB pieces (constant memory). Returns 0, or -1 with
   errno set when the file cannot be opened or read; *size gets the byte count. */
int rw_md5_file(const char *path, unsigned char out[16], uint64_t *size);

#endif
