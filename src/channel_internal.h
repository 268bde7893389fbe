/*
 * attex internal: what the channel's drivers need beyond the public API.
 */
#ifndef ATTEX_CHANNEL_INTERNAL_H
#define ATTEX_CHANNEL_INTERNAL_H

#include <stddef.h>

#include <attex/channel.h>

/* The number of peer requests we answered whose VERDICT has not arrived yet. */
size_t attex_channel_awaiting_verdicts(const attex_channel *ch);

/* Once closed: the status it closed with (ATTEX_OK: cleanly) and its reason. */
int attex_channel_close_status(const attex_channel *ch, const char **reason);

#endif /* ATTEX_CHANNEL_INTERNAL_H */
