/*
 * A tiny test harness for the C tests of focusllm.h: CHECK macros that count and report,
 * and helpers shared by the test programs. Each program prints
 * "<name>: N checks passed, M failed" and exits non-zero when M > 0.
 */
#ifndef FOCUSLLM_TEST_CHECK_H
#define FOCUSLLM_TEST_CHECK_H

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "focusllm.h"

static int check_passed = 0;
static int check_failed = 0;

/* The calling thread's last error message (a static buffer: one thread at a time). */
static inline const char *last_error(void) {
    static char buffer[4096];
    focusllm_last_error_message(buffer, sizeof buffer);
    return buffer;
}

static inline void check_impl(int ok, const char *what, const char *file, int line) {
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
    }
}

/* Checks that `call` returns `expected`; prints the last error when it does not. */
static inline void check_status_impl(focusllm_status got, focusllm_status expected, const char *what,
                                     const char *file, int line) {
    check_impl(got == expected, what, file, line);
    if (got != expected) {
        fprintf(stderr, "    got status %d (%s), expected %d (%s); last error: %s\n", (int)got,
                focusllm_status_string(got), (int)expected, focusllm_status_string(expected),
                last_error());
    }
}

/* Checks that `call` fails with `expected` and that the last error contains `needle`. */
static inline void check_error_impl(focusllm_status got, focusllm_status expected, const char *needle,
                                    const char *what, const char *file, int line) {
    check_status_impl(got, expected, what, file, line);
    if (got == expected) {
        const char *message = last_error();
        check_impl(strstr(message, needle) != NULL, needle, file, line);
        if (strstr(message, needle) == NULL) {
            fprintf(stderr, "    the last error \"%s\" lacks \"%s\"\n", message, needle);
        }
    }
}

#define CHECK(cond) check_impl((cond) ? 1 : 0, #cond, __FILE__, __LINE__)
#define CHECK_OK(call) check_status_impl((call), FOCUSLLM_STATUS_OK, #call, __FILE__, __LINE__)
#define CHECK_ERROR(call, expected, needle) \
    check_error_impl((call), (expected), (needle), #call, __FILE__, __LINE__)
/* For functions that return 0 / NULL on failure: the last error must contain `needle`. */
#define CHECK_LAST_ERROR(needle) \
    check_impl(strstr(last_error(), (needle)) != NULL, "last error contains " needle, __FILE__, __LINE__)

/* Prints the time since the previous call (or the start) and the name of the part now done. */
static inline void check_done(const char *part) {
    static struct timespec last;
    struct timespec now;
    timespec_get(&now, TIME_UTC);
    if (last.tv_sec != 0) {
        double seconds = (double)(now.tv_sec - last.tv_sec) + (double)(now.tv_nsec - last.tv_nsec) / 1e9;
        printf("  %-40s %7.2f s\n", part, seconds);
        fflush(stdout);
    }
    last = now;
}

static inline int check_summary(const char *name) {
    printf("%s: %d checks passed, %d failed\n", name, check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

#endif /* FOCUSLLM_TEST_CHECK_H */
