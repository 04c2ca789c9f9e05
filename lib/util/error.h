/* Thread-local detail message behind agentvm_last_error(). */
#ifndef AGENTVM_UTIL_ERROR_H
#define AGENTVM_UTIL_ERROR_H

/*
 * Record a detail message for the calling thread and return err (a negative
 * errno), so that failures read `return error_set(-EINVAL, "...", ...);`.
 */
int error_set(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like error_set(), appending ": <strerror(-err)>" to the message. */
int error_set_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Put "<fmt>: " before the calling thread's message, for context only the caller knows (a path). */
int error_prefix(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forget the calling thread's message (successful calls that must not leave a stale one). */
void error_clear(void);

/* The calling thread's message; never NULL. */
const char *error_get(void);

#endif
