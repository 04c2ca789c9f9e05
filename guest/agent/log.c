#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PREFIX "agentvm-agent: "

void agent_log(const char *fmt, ...)
{
	char line[512] = PREFIX;
	size_t used = strlen(PREFIX);
	size_t room = sizeof(line) - used - 1; /* keeps a byte for the newline */
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line + used, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* A longer line is cut, not dropped: its start names the failure. */
	used += (size_t)n < room ? (size_t)n : room - 1;
	line[used++] = '\n';
	/* If the console itself fails there is nowhere left to say so. */
	if (write(STDERR_FILENO, line, used) < 0)
		return;
}
