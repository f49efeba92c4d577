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

/* Sends order-status {invoice, to} with an ack. `bump` pushes the change on the recall stack
 * once acknowledged; `recall` marks a recall (for the messages). The outcome is shown on the
 * status line either way. Returns 0 if sent, or a negative error when it could not be sent
 * (offline...), after saying so. */
int app_net_set_status(app_t *app, const char *invoice, enum ticket_status from, enum ticket_status to,
                       int bump, int recall);

/* Too many events arrived during a load: drop them and load again when this load ends. */
void app_net_reload_later(app_t *app);

#endif
