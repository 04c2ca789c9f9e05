#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One sentence fits; a longer one is cut rather than allocated, so setting an error never fails. */
static _Thread_local char error_message[512];

static void error_vformat(const char *fmt, va_list ap)
{
	vsnprintf(error_message, sizeof(error_message), fmt, ap);
}

int error_set(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vformat(fmt, ap);
	va_end(ap);
	return err;
}

int error_set_errno(int err, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	va_start(ap, fmt);
	error_vformat(fmt, ap);
	va_end(ap);
	used = strlen(error_message);
	snprintf(error_message + used, sizeof(error_message) - used, ": %s", strerror(-err));
	return err;
}

int error_prefix(int err, const char *fmt, ...)
{
	char detail[sizeof(error_message)];
	va_list ap;
	size_t used;

	memcpy(detail, error_message, sizeof(detail));
	va_start(ap, fmt);
	error_vformat(fmt, ap);
	va_end(ap);
	used = strlen(error_message);
	snprintf(error_message + used, sizeof(error_message) - used, ": %s", detail);
	return err;
}

void error_clear(void)
{
	error_message[0] = '\0';
}

const char *error_get(void)
{
	return error_message;
}
