/*
 * attex internal: the tsm-report decoder, for tsm.c, its tests and fuzz target.
 */
#ifndef ATTEX_TSM_INTERNAL_H
#define ATTEX_TSM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

/* A decoded tsm-report: views into `root`. */
typedef struct tsm_report_view {
    cbor_item_t *root;
    const uint8_t *provider;
    size_t provider_len;
    const uint8_t *outblob;
    size_t outblob_len;
    const uint8_t *auxblob; /* NULL when absent */
    size_t auxblob_len;
} tsm_report_view;

/*
 * tsm_report_decode decodes {"provider": tstr, "outblob": bstr, ?
 * "auxblob": bstr} strictly; on failure writes why and returns 0. Free with
 * tsm_report_view_free in both cases.
 */
int tsm_report_decode(const uint8_t *in, size_t len, tsm_report_view *v, char *why,
                      size_t why_size);
void tsm_report_view_free(tsm_report_view *v);

#endif /* ATTEX_TSM_INTERNAL_H */
