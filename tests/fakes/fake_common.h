/* Shared helpers of the stand-in driver libraries. Behaviour is read from the environment at each call. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fake_env(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return (v && *v) ? v : fallback;
}

/* Is `word` one of the comma-separated items of env var `name`? */
static int fake_listed(const char *name, const char *word) {
    const char *v = getenv(name);
    size_t n = strlen(word);
    while (v && *v) {
        if (strncmp(v, word, n) == 0 && (v[n] == ',' || v[n] == 0)) return 1;
        v = strchr(v, ',');
        if (v) v++;
    }
    return 0;
}

/* FAKE_*_HANG=<function>: that call never returns (a wedged driver). */
static void fake_maybe_hang(const char *var, const char *function) {
    if (fake_listed(var, function)) for (;;) pause();
}

static int fake_count(void) { return atoi(fake_env("FAKE_GPU_COUNT", "1")); }
