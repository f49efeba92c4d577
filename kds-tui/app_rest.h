/* app_rest.h: REST requests of the display besides the open queue (app_rest.c): the header's
 * figures of the day and the recall list. */
#ifndef KDS_TUI_APP_REST_H
#define KDS_TUI_APP_REST_H

#include "app.h"

/* Asks for GET /api/v1/stats a second from now (a request in flight is asked again when it
 * ends; a burst of calls makes one request). No-op when the server has no stats. */
void app_rest_stats_soon(app_t *app);

/* A new link (connect or loss): answers to older requests are dropped, the server is asked
 * for stats again. */
void app_rest_link_changed(app_t *app);

/* GET /api/v1/recall: with `pick`, recalls the newest entry (r; the screen's own bumps when
 * the server has no recall list), else fills app->ui.recall for the recall view (R).
 * Returns 0 or a negative error after saying so. */
int app_rest_recall(app_t *app, int pick);

/* Brings `invoice` (now `status`: ready or completed) back one step. */
void app_rest_recall_pick(app_t *app, const char *invoice, enum ticket_status status);

#endif
