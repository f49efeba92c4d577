/* app_net.h: the display's link to the server (app_net.c): Socket.IO over WebSocket for live
 * events and status changes, REST for the open queue, reconnecting with backoff. */
#ifndef KDS_TUI_APP_NET_H
#define KDS_TUI_APP_NET_H

#include <stdint.h>

#include "app.h"

/* Starts connecting (the first attempt runs from the loop). Returns 0, or a negative error
 * with a reason in err[errlen]. */
int app_net_start(app_t *app, char *err, size_t errlen);

/* Closes the link and cancels requests; pending status changes are reported as not
 * confirmed. Idempotent. */
void app_net_stop(app_t *app);

/* Frees what is left after the loop ended. */
void app_net_release(app_t *app);

/* Queues order-status {invoice, to} in the outbox (outbox.h): sent at once when the link is
 * live, else on reconnect, with an action id so that it lands once. `bump` pushes the change
 * on the recall stack once acknowledged; `recall` marks a recall (for the messages). The
 * outcome is shown on the status line either way. Returns 0 if queued, or a negative error
 * after saying so (feed mode, outbox full). */
int app_net_set_status(app_t *app, const char *invoice, enum ticket_status from, enum ticket_status to,
                       int bump, int recall);

/* Queues line-done {invoice, line, done} the same way (SPEC 10.3). */
int app_net_line_done(app_t *app, const char *invoice, int64_t line, int done);

/* Marks the tickets with waiting changes pending and sends the next one if the link is live
 * (after a load: the listing made new ticket objects). */
void app_net_flush(app_t *app);

/* The sentence for a link error `err`: a refused certificate or a failed TLS handshake
 * (KDS_ETLS) gives "TLS: " and what failed, for which host; anything else kds_strerror.
 * Valid until the next call. */
const char *app_net_strerror(app_t *app, int err);

/* Too many events arrived during a load: drop them and load again when this load ends. */
void app_net_reload_later(app_t *app);

#endif
