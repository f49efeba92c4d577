/* hex.h: hexadecimal digits, the one decoder of them (JSON's \uXXXX, percent-encoding). */
#ifndef KDS_HEX_H
#define KDS_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value 0..15 of hex digit c (either case), or -1 when c is not one. */
int hex_digit(int c);

/* Reads exactly n (<= 8) hex digits at s into *out. Returns 0, or -1 when one of them is
 * not a hex digit (*out untouched). The caller makes sure n bytes are there. */
int hex_decode(const char *s, size_t n, uint32_t *out);

#endif
