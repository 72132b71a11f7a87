/* Writing JSON by hand (metrics.jsonl, eval.json, predict's lines): strings escaped as RFC
 * 8259 asks, numbers that JSON can carry (a non-finite value is null). */
#ifndef CNN_CORE_JSON_H
#define CNN_CORE_JSON_H

#include <stdio.h>

/* s as a JSON string with its quotes: '"', '\\' and control characters escaped; bytes of
 * 0x80 and above pass through (UTF-8 file and class names stay readable). */
void json_write_str(FILE *f, const char *s);
/* v with %.*g (digits significant digits), or null when it is NaN or infinite. */
void json_write_num(FILE *f, double v, int digits);

#endif
