/* Rank-aware log lines; errors go to stderr from every rank so no failure is hidden. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static log_level level = LOG_INFO; /* written once at start-up (see err.h on process state) */

void log_set_level(log_level lv) { level = lv; }

void log_init_from_env(void)
{
    const char *v = getenv("CNN_LOG");
    if (!v)
        return;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0)
            level = (log_level)i;
}

void log_msg(log_level lv, int all_ranks, const char *fmt, ...)
{
    if (lv < level || (!all_ranks && cnn_proc_rank() != 0))
        return;
    FILE *f = lv >= LOG_WARN ? stderr : stdout;
    if (cnn_proc_size() > 1 || all_ranks)
        fprintf(f, "[r%d/%d] ", cnn_proc_rank(), cnn_proc_size());
    if (lv == LOG_WARN)
        fputs("warning: ", f);
    else if (lv == LOG_ERROR)
        fputs("error: ", f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}
