/* The Lua allocator: counts bytes against the host's memory limit, and serves small blocks
   (tables, short strings, closures: nearly every object a watch tick makes) from per-size free
   lists carved out of 64 KB chunks, so they cost no malloc/free and no glibc bin consolidation.
   Under AddressSanitizer every block goes to malloc, so the sanitizer still sees each one. */
#include <stdlib.h>
#include <string.h>
#include "rw.h"

#define GRAIN 16                       /* block sizes are multiples of this (Lua's alignment) */
#define SMALL_MAX 512                  /* larger blocks come from malloc */
#define NCLASS (SMALL_MAX / GRAIN)
#define CHUNK (64 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define POOLED(n) 0
#else
#define POOLED(n) ((n) <= SMALL_MAX)
#endif
#define CLASS(n) (((n) + GRAIN - 1) / GRAIN)

struct rw_pool {
  void *free[NCLASS + 1];              /* class c: free blocks of c * GRAIN bytes, linked */
  void *chunks;                        /* every chunk, linked through its first word */
  char *cur;                           /* the unused rest of the newest chunk */
  size_t left;
};

rw_pool *rw_pool_new(void) { return calloc(1, sizeof(rw_pool)); }

void rw_pool_free(rw_pool *p) {
  if (!p) return;
  while (p->chunks) {
    void *next = *(void **)p->chunks;
    free(p->chunks);
    p->chunks = next;
  }
  free(p);
}

static void *pool_get(rw_pool *p, size_t n) {
  size_t c = CLASS(n), size = c * GRAIN;
  void *b = p->free[c];
  if (b) {
    p->free[c] = *(void **)b;
    return b;
  }
  if (p->left < size) {
    char *chunk = malloc(CHUNK);
    if (!chunk) return NULL;
    *(void **)chunk = p->chunks;
    p->chunks = chunk;
    p->cur = chunk + GRAIN;            /* the link word, padded to keep blocks aligned */
    p->left = CHUNK - GRAIN;
  }
  b = p->cur;
  p->cur += size;
  p->left -= size;
  return b;
}

static void pool_put(rw_pool *p, void *b, size_t n) {
  size_t c = CLASS(n);
  *(void **)b = p->free[c];
  p->free[c] = b;
}

static void *block_get(rw_host *h, size_t n) { return POOLED(n) ? pool_get(h->pool, n) : malloc(n); }
static void block_put(rw_host *h, void *b, size_t n) { if (POOLED(n)) pool_put(h->pool, b, n); else free(b); }

/* lua_Alloc: ptr's block has osize bytes when ptr is not NULL (Lua always says), so a block
   goes back to the list it came from */
void *rw_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  rw_host *h = ud;
  size_t old = ptr ? osize : 0;
  void *p;
  if (nsize == 0) {
    if (ptr) block_put(h, ptr, old);
    h->mem_used -= old;
    return NULL;
  }
  if (nsize > old && h->mem_limit && h->mem_used - old + nsize > h->mem_limit && !h->closing)
    return NULL;
  if (!ptr) p = block_get(h, nsize);
  else if (POOLED(old) && POOLED(nsize) && CLASS(old) == CLASS(nsize)) p = ptr;
  else if (!POOLED(old) && !POOLED(nsize)) p = realloc(ptr, nsize);
  else {
    p = block_get(h, nsize);
    if (!p) return NULL;
    memcpy(p, ptr, old < nsize ? old : nsize);
    block_put(h, ptr, old);
  }
  if (!p) return NULL;
  h->mem_used = h->mem_used - old + nsize;
  if (h->mem_used > h->mem_peak) h->mem_peak = h->mem_used;
  return p;
}
