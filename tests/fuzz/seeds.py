#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into corpus/<target>/ (run from anywhere:
python3 tests/fuzz/seeds.py). Each seed is a small piece of real traffic in the framing its
target reads (see the comment at the top of each fuzz_*.c); rerunning rewrites the same files."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


ORDER = {"payment_method": "CASH", "items": [{"product_id": 1, "qty": 2}, {"product_id": 3, "qty": 1},
                                              {"product_id": 1, "qty": 1}], "note": "  tanpa saus  "}
NEW_ORDER = json.dumps(["new-order", {"invoice_number": "INV-20231103-0001", "date": "2023-11-03",
                                      "total_amount": 14000, "status": "new"}], separators=(",", ":"))

# ---- fuzz_eio: a polling payload (records separated by 0x1e) ----
HS = '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
write("fuzz_eio", "handshake", HS)
write("fuzz_eio", "ping", "2")
write("fuzz_eio", "pong", "3")
write("fuzz_eio", "probe", "2probe")
write("fuzz_eio", "upgrade", "5")
write("fuzz_eio", "noop", "6")
write("fuzz_eio", "close", "1")
write("fuzz_eio", "sio-connect", "40")
write("fuzz_eio", "event", "42" + NEW_ORDER)
write("fuzz_eio", "payload", "40\x1e42[\"join\",{\"station\":\"ISI CORNDOG\"}]\x1e2\x1ebAQIDBA==")
write("fuzz_eio", "binary-b64", "bAQID")
write("fuzz_eio", "binary-urlsafe", "b-_-_")

# ---- fuzz_sio: <kind: 0 text, 1 binary><u16 length><bytes> ... ----
def sio(*msgs):
    out = b""
    for m in msgs:
        binary = isinstance(m, bytes)
        b = m if binary else m.encode()
        out += bytes([1 if binary else 0]) + struct.pack(">H", len(b)) + b
    return out

write("fuzz_sio", "connect", sio("0"))
write("fuzz_sio", "connect-auth", sio('0{"token":"abc"}'))
write("fuzz_sio", "connect-nsp", sio("0/admin,{}"))
write("fuzz_sio", "connect-error", sio('4{"message":"unauthorized","data":{"code":401}}'))
write("fuzz_sio", "disconnect", sio("1"))
write("fuzz_sio", "event", sio("2" + NEW_ORDER))
write("fuzz_sio", "event-ack", sio('21["join",{"station":"ISI CORNDOG"}]', '31[{"ok":true}]'))
write("fuzz_sio", "event-ws", sio('2/custom,5[ "a" ,\n{ "b" : " x y " } ]'))
write("fuzz_sio", "binary-event", sio('51-["bin",{"_placeholder":true,"num":0}]', b"\x01\x02\x03"))
write("fuzz_sio", "binary-ack", sio('62-/x,9[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
                                     b"\x00", b""))
write("fuzz_sio", "strings", sio('2["s","\\ud83c\\udf36\\u00e9\\n",1.5e3,-0,null,true,[],{}]'))

# ---- fuzz_ws: <flags><4 chunk sizes> then client frames (masked) ----
KEY = b"\x12\x34\x56\x78"

def frame(op, payload, fin=True, masked=True):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        h = bytes([b0, (0x80 if masked else 0) | n])
    elif n < 65536:
        h = bytes([b0, (0x80 if masked else 0) | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, (0x80 if masked else 0) | 127]) + struct.pack(">Q", n)
    if not masked:
        return h + payload
    return h + KEY + bytes(c ^ KEY[i % 4] for i, c in enumerate(payload))

CHUNKS_WHOLE = bytes([255, 255, 255, 255])
write("fuzz_ws", "text", bytes([0]) + CHUNKS_WHOLE + frame(1, "42" + NEW_ORDER))
write("fuzz_ws", "ping-pong", bytes([0]) + CHUNKS_WHOLE + frame(9, "hi") + frame(10, "") + frame(1, "3"))
write("fuzz_ws", "echo-binary", bytes([1]) + CHUNKS_WHOLE + frame(2, bytes(range(200))))
write("fuzz_ws", "fragments", bytes([0]) + bytes([3, 7, 1, 200]) +
      frame(1, "42[\"a", fin=False) + frame(9, "x") + frame(0, "bc\"]") + frame(8, b"\x03\xe8bye"))
write("fuzz_ws", "close", bytes([0]) + CHUNKS_WHOLE + frame(8, b"\x03\xe8"))
write("fuzz_ws", "close-in-callback", bytes([2]) + CHUNKS_WHOLE + frame(1, "2") + frame(8, b"\x03\xe8"))
write("fuzz_ws", "unmasked", bytes([0]) + CHUNKS_WHOLE + frame(1, "2", masked=False))
write("fuzz_ws", "too-big", bytes([4]) + bytes([10, 10, 10, 10]) + frame(2, b"z" * 300))
write("fuzz_ws", "bad-utf8", bytes([8]) + CHUNKS_WHOLE + frame(1, b"\xc3\x28"))

# ---- fuzz_http: <4 chunk sizes> then the client's bytes ----
def http(chunks, text):
    return bytes(chunks) + (text.encode() if isinstance(text, str) else text)

body = json.dumps(ORDER)
write("fuzz_http", "get-keepalive", http([255] * 4, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"))
write("fuzz_http", "post-json", http([40, 3, 255, 255], "POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: application/json; charset=utf-8\r\n"
      "Content-Length: %d\r\n\r\n%s" % (len(body), body)))
chunked = "POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
half = len(body) // 2
chunked += "%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])
write("fuzz_http", "post-chunked", http([17, 1, 60, 255], chunked))
write("fuzz_http", "trust-proxy", http([41, 255, 255, 255], "GET /echo/a/b HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7, 198.51.100.1\r\n"
                                       "X-Forwarded-For: ::1\r\n\r\nGET /echo/a/b HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: ,, x\t\r\n\r\n"))
write("fuzz_http", "pipelined", http([255] * 4, "GET /async HTTP/1.1\r\nHost: a\r\n\r\nGET /echo/x%2Fy/rest/of?q=a+b%21 HTTP/1.1\r\n"
      "Host: a\r\nX-A: 1\r\nX-A: 2\r\n\r\nHEAD /nope HTTP/1.1\r\n\r\nOPTIONS /json HTTP/1.1\r\nOrigin: http://x\r\n"
      "Access-Control-Request-Method: POST\r\n\r\nDELETE /json HTTP/1.1\r\n\r\n"))
write("fuzz_http", "upgrade", http([255] * 4, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").rstrip(b"") + frame(1, "2probe"))
write("fuzz_http", "abort-close", http([255] * 4, "GET /abort HTTP/1.1\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n"))
edge = b'\xef\xbb\xbf{"a":"\\u0000\\ud800\xff","a":[1e999,-0.0],"b":{}}  '
write("fuzz_http", "json-edge", http([255] * 4, b"POST /json HTTP/1.1\r\nContent-Type: application/json\r\n"
      b"Content-Length: %d\r\n\r\n" % len(edge) + edge))
write("fuzz_http", "expect", http([255] * 4, "POST /json HTTP/1.1\r\nExpect: 100-continue\r\nContent-Type: application/json\r\n"
      "Content-Length: 2\r\n\r\n{}"))

# ---- fuzz_order: <count> then per product <id><cat><sort><price kind><u64 price><active><name><category>, then JSON ----
MENU = [(1, "Corndog Sosis", 1, "ISI CORNDOG", 6000), (2, "Corndog Mozzarella", 1, "ISI CORNDOG", 8000),
        (3, "Mie", 2, "BALUTAN", 2000), (4, "Kentang", 2, "BALUTAN", 3000), (5, "Saus Tomat", 3, "SAUS ASIN", 1000),
        (6, "Mayonaise", 3, "SAUS ASIN", 1000), (7, "Coklat", 4, "SAUS MANIS", 1000)]

def menu(items, kind=0):
    out = bytes([len(items)])
    for pid, name, cat, catname, price in items:
        out += bytes([pid, cat, cat, kind]) + struct.pack(">Q", price) + bytes([1])
        out += bytes([len(name)]) + name.encode() + bytes([len(catname)]) + catname.encode()
    return out

write("fuzz_order", "seed-order", menu(MENU) + json.dumps(ORDER).encode())
write("fuzz_order", "all-products", menu(MENU) + json.dumps(
    {"payment_method": "QRIS", "items": [{"product_id": i, "qty": 999} for i in range(1, 8)]}).encode())
write("fuzz_order", "huge-price", menu([(1, "Mahal", 1, "X", 9 * 10**15)], kind=1) + json.dumps(
    {"payment_method": "CARD", "items": [{"product_id": 1, "qty": 1}]}).encode())
write("fuzz_order", "kitchen-ops", menu(MENU) + json.dumps(
    {"payment_method": "CASH", "order_type": "dine_in", "table": "12", "customer_name": "Budi",
     "items": [{"product_id": 1, "qty": 1, "note": "well done", "modifiers": ["no mayo", "extra spicy"]},
               {"product_id": 1, "qty": 2, "modifiers": ["no mayo", "extra spicy"], "note": "well done"},
               {"product_id": 1, "qty": 1, "modifiers": ["no mayo"]}, {"product_id": 5, "qty": 1, "note": ""}]}).encode())
write("fuzz_order", "bad-modifiers", menu(MENU[:2]) + b'{"payment_method":"CASH","items":[{"product_id":1,"qty":1,"modifiers":["a\\u0000",""," ",null,7]}],"table":"\\t"}')
write("fuzz_order", "bad-items", menu(MENU[:2]) + b'{"payment_method":"CASH","items":[{"product_id":"1","qty":1.5}],"note":7}')

# ---- fuzz_model: [width byte, expo byte, stations byte] then records (kind byte, u16 length, JSON) ----
def model_records(*recs):
    out = b""
    for kind, obj in recs:
        body = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        out += bytes([kind]) + struct.pack(">H", len(body)) + body
    return out


TICKET = {"invoice_number": "INV-20231103-0001", "date": "2023-11-03", "total_amount": 11000,
          "ISI CORNDOG": {"quantity": 2, "total_amount": 12000, "items": ["Corndog Sosis"]},
          "SAUS ASIN": {"quantity": 1, "total_amount": 1000, "items": ["Saus Tomat"]},
          "status": "new", "created_at": "2023-11-03T10:15:02.123+07:00",
          "updated_at": "2023-11-03T10:15:02.123+07:00", "payment_method": "CASH", "outlet_id": 1,
          "note": "no onion", "order_type": "dine_in", "table": "4", "rush": True,
          "lines": [{"product_id": 1, "name": "Corndog Sosis", "category": "ISI CORNDOG", "qty": 2, "price": 6000,
                     "subtotal": 12000, "note": "cut in half", "modifiers": ["no mayo", "extra spicy"], "done": True},
                    {"product_id": 5, "name": "Saus Tomat", "category": "SAUS ASIN", "qty": 1, "price": 1000,
                     "subtotal": 1000}]}
UPDATED = dict(TICKET, status="preparing", updated_at="2023-11-03T10:16:00.000+07:00")
CANCELLED = dict(TICKET, status="cancelled", updated_at="2023-11-03T10:17:00.000+07:00")
SEED_SHAPED = {"invoice_number": "INV-20231103-0002", "date": "2023-11-03", "total_amount": 15000,
               "ISI CORNDOG": {"quantity": 1, "total_amount": 6000, "items": ["Corndog Sosis"]},
               "SAUS MANIS": {"quantity": 1, "total_amount": 1000, "items": ["Coklat"]}}
WIDE = dict(TICKET, invoice_number="INV-20231103-0003", customer_name="Budi 珈琲 " + "x" * 80,
            lines=[dict(TICKET["lines"][0], name="Kopi 珈琲 " * 12, modifiers=["m" * 60] * 10)])
write("fuzz_model", "lifecycle", bytes([6, 0, 0]) + model_records((0, TICKET), (1, UPDATED), (4, b"x" * 10),
                                                                  (1, CANCELLED), (4, b"x" * 6000)))
write("fuzz_model", "seed-shaped", bytes([30, 1, 0]) + model_records((0, SEED_SHAPED), (2, {"invoice_number": "INV-20231103-0002"})))
write("fuzz_model", "listing", bytes([0, 0, 1]) + model_records((3, [TICKET, SEED_SHAPED, WIDE]), (3, []), (3, {"not": "a list"})))
write("fuzz_model", "wide", bytes([39, 1, 1]) + model_records((0, WIDE), (1, dict(WIDE, rush=False))))
write("fuzz_model", "junk", bytes([1, 1, 1]) + model_records((0, b"[{\"invoice_number\":"), (1, 12), (2, None)))

# ---- fuzz_redis_msg: one Redis pub/sub payload (SCALEOUT.md 1.3 captures and their cousins) ----
def mp_str(s):
    b = s.encode()
    return (bytes([0xa0 | len(b)]) if len(b) < 32 else bytes([0xd9, len(b)])) + b


def mp_msg(uid, data, opts, nsp="/"):
    pkt = b"\x83" + mp_str("type") + b"\x02" + mp_str("data") + data + mp_str("nsp") + mp_str(nsp)
    return b"\x93" + mp_str(uid) + pkt + opts


ROOMS1 = mp_str("rooms") + b"\x91" + mp_str("outlet:1")
write("fuzz_redis_msg", "adapter-74", mp_msg("qpdkWm", b"\x92" + mp_str("new-order") + b"\x81" + mp_str("id") + b"\x2a",
                                            b"\x83" + ROOMS1 + mp_str("except") + b"\x90" + mp_str("flags") + b"\x80"))
write("fuzz_redis_msg", "emitter-75", mp_msg("emitter", b"\x92" + mp_str("new-order") + b"\x81" + mp_str("id") + b"\x2b",
                                             b"\x83" + ROOMS1 + mp_str("flags") + b"\x80" + mp_str("except") + b"\x90"))
write("fuzz_redis_msg", "bin8", mp_msg("qpdkWm", b"\x92" + mp_str("hello") + b"\xc4\x03\x01\x02\x03",
                                       b"\x83" + mp_str("rooms") + b"\x90" + mp_str("except") + b"\x90" + mp_str("flags") + b"\x80"))
write("fuzz_redis_msg", "volatile", mp_msg("qpdkWm", b"\x92" + mp_str("x") + b"\xcb\x3f\xf8" + b"\x00" * 6,
                                           b"\x83" + mp_str("rooms") + b"\x92" + mp_str("outlet:1") + mp_str("outlet:2") +
                                           mp_str("except") + b"\x91" + mp_str("outlet:9") +
                                           mp_str("flags") + b"\x81" + mp_str("volatile") + b"\xc3"))
write("fuzz_redis_msg", "int-rooms", mp_msg("abc", b"\x93" + mp_str("e") + b"\xc0\xc2",
                                            b"\x82" + mp_str("except") + b"\x91\xcd\x01\x2c" + mp_str("rooms") + b"\x91\x07"))
write("fuzz_redis_msg", "nested", mp_msg("abc", b"\x92" + mp_str("order-updated") +
                                         b"\x82" + mp_str("lines") + b"\x91\x82" + mp_str("qty") + b"\xd0\x80" +
                                         mp_str("name") + b"\xda\x00\x03Pho" + mp_str("total") + b"\xcf" + b"\x00\x20" + b"\x00" * 6,
                                         b"\x80", nsp="/admin"))
write("fuzz_redis_msg", "streams-map", b"\x84" + mp_str("uid") + mp_str("de2ddf2363056000") + mp_str("nsp") + mp_str("/") +
      mp_str("type") + mp_str("3") + mp_str("data") + b"\x80")
write("fuzz_redis_msg", "garbage", b"hello \xc1 world")
write("fuzz_redis_msg", "request-7", b"\x85" + mp_str("uid") + mp_str("qpdkWm") + mp_str("requestId") + mp_str("r1") +
      mp_str("type") + b"\x07" + mp_str("packet") + b"\x83" + mp_str("type") + b"\x02" + mp_str("data") + b"\x92" +
      mp_str("ping") + b"\x01" + mp_str("nsp") + mp_str("/") + mp_str("opts") + b"\x83" + ROOMS1 + mp_str("except") +
      b"\x90" + mp_str("flags") + b"\x81" + mp_str("timeout") + b"\xcd\x03\xe8")
