/*
 * attex: owned byte strings returned to the caller.
 */
#ifndef ATTEX_BUF_H
#define ATTEX_BUF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * attex_buf is a heap byte string owned by the caller once an attex function
 * has filled it. Initialise it with ATTEX_BUF_INIT; release it with
 * attex_buf_free.
 */
typedef struct attex_buf {
    uint8_t *data;
    size_t len;
} attex_buf;

/** ATTEX_BUF_INIT is the empty attex_buf. */
#define ATTEX_BUF_INIT {NULL, 0}

/** attex_buf_free zeroises and frees the bytes of `buf` and resets it. Accepts NULL. */
void attex_buf_free(attex_buf *buf);

#ifdef __cplusplus
}
#endif

#endif /* ATTEX_BUF_H */
