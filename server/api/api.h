/* api.h: the REST API of SPEC 3 under /api/v1: auth (login, logout), categories, products,
 * orders. Handlers authenticate (bearer token via the auth cache), check roles, parse JSON
 * bodies, and hand the work to the DB thread (ordersvc, db); answers and errors use the
 * reference's codes and messages. */
#ifndef KDS_API_H
#define KDS_API_H

struct server;

/* Registers every /api/v1 route on srv->http (call after http_server_new, db_open and
 * auth_init, before listening). Returns 0 or the error of http_route_add
 * (KDS_EINVAL/KDS_ENOMEM). */
int api_init(struct server *srv);

#endif
