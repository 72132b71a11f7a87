/* Logging: log_info/warn/error print on rank 0 only (other ranks would repeat the same line
 * N times); log_all prints on every rank with a [r3/8] prefix. Level from CNN_LOG
 * (debug|info|warn|error) or log_set_level; set once at start-up. */
#ifndef CNN_CORE_LOG_H
#define CNN_CORE_LOG_H

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level lv);
void log_init_from_env(void);
void log_msg(log_level lv, int all_ranks, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, 0, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, 0, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, 1, __VA_ARGS__)
#define log_all(...) log_msg(LOG_INFO, 1, __VA_ARGS__)

#endif
