/* The configuration tree: YAML positions, typed getters and their error messages. */
#include "../../src/config/config.h"
#include "../check.h"

static cfg_node *parse(const char *text)
{
    cfg_node *n;
    cnn_err e = {0};
    if (config_parse_string(text, strlen(text), "t.yaml", &n, &e) < 0) {
        fprintf(stderr, "unexpected parse error: %s\n", e.msg);
        exit(1);
    }
    return n;
}

static void expect_parse_error(const char *text, const char *fragment)
{
    cfg_node *n = NULL;
    cnn_err e = {0};
    CHECK_EQ(config_parse_string(text, strlen(text), "t.yaml", &n, &e), CNN_EINVAL);
    CHECK(n == NULL);
    printf("  %s\n", e.msg);
    CHECK_STR_CONTAINS(e.msg, fragment);
}

int main(void)
{
    cfg_node *n = parse("a: 3\nk: [3, 5]\nf: 0.25\nb: false\ns: hello\nm: {x: 1}\n");
    cnn_err e = {0};
    int64_t i, p[2];
    double f;
    bool b;
    const char *s;
    CHECK_EQ(cfg_int(n, "a", true, 0, &i, &e), CNN_OK);
    CHECK_EQ(i, 3);
    CHECK_EQ(cfg_int(n, "missing", false, 7, &i, &e), CNN_OK);
    CHECK_EQ(i, 7);
    CHECK_EQ(cfg_int2(n, "k", true, 0, p, &e), CNN_OK);
    CHECK(p[0] == 3 && p[1] == 5);
    CHECK_EQ(cfg_int2(n, "a", true, 0, p, &e), CNN_OK);
    CHECK(p[0] == 3 && p[1] == 3);
    CHECK_EQ(cfg_float(n, "f", true, 0, &f, &e), CNN_OK);
    CHECK_NEAR(f, 0.25, 0);
    CHECK_EQ(cfg_bool(n, "b", true, true, &b, &e), CNN_OK);
    CHECK(!b);
    CHECK_EQ(cfg_str(n, "s", true, NULL, &s, &e), CNN_OK);
    CHECK(!strcmp(s, "hello"));

    /* Errors carry file:line:column of the offending value and what was expected. */
    CHECK_EQ(cfg_int(n, "s", true, 0, &i, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "t.yaml:5:4: key 's': expected an integer, got 'hello'");
    CHECK_EQ(cfg_int(n, "nope", true, 0, &i, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "required key 'nope' is missing");
    CHECK_EQ(cfg_int2(n, "m", true, 0, p, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "got a map");
    CHECK_EQ(cfg_bool(n, "a", true, false, &b, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "expected true or false");
    int c;
    static const char *const modes[] = {"nearest", "bilinear", NULL};
    CHECK_EQ(cfg_choice(n, "s", modes, 0, &c, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "'hello' is not one of: nearest, bilinear");
    static const char *const allowed[] = {"a", "k", "f", "b", "s", NULL};
    CHECK_EQ(cfg_check_keys(n, allowed, NULL, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "t.yaml:6:1: unknown key 'm'");
    cfg_free(n);

    n = parse("kernal: 3\n");
    static const char *const conv[] = {"kernel", "stride", NULL};
    CHECK_EQ(cfg_check_keys(n, conv, NULL, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "did you mean 'kernel'");
    cfg_free(n);

    expect_parse_error("a: [1, 2\n", "t.yaml:");
    expect_parse_error("a: 1\na: 2\n", "key 'a' appears twice");
    expect_parse_error("", "empty");
    expect_parse_error("? [1, 2]\n: 3\n", "a key must be a plain string");
    /* An alias bomb must end in an error, not exhaust memory or the stack. */
    char deep[4096] = "";
    for (int d = 0; d < 100; d++)
        strcat(deep, "[");
    for (int d = 0; d < 100; d++)
        strcat(deep, "]");
    expect_parse_error(deep, "nesting deeper than");
    printf("cfg: ok\n");
    return 0;
}
