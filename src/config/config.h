/* YAML text to a cfg_node tree (src/core/cfg.h) with file:line:column marks. The typed run
 * configuration with defaults and --set overrides builds on this (issue #4). */
#ifndef CNN_CONFIG_H
#define CNN_CONFIG_H

#include "../core/core.h"

/* fname is only used in marks and messages. */
int config_parse_string(const char *text, size_t len, const char *fname, cfg_node **out,
                        cnn_err *e);
int config_parse_file(const char *path, cfg_node **out, cnn_err *e);

#endif
