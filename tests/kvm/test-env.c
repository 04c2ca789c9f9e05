#include "test-env.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

const char *env_path(const char *name)
{
	const char *path = getenv(name);

	if (!path || access(path, R_OK) != 0)
		fail_msg("%s must name a readable file (got '%s'); run this test through meson", name,
			 path ? path : "");
	return path;
}

static void deadline_passed(int sig)
{
	static const char line[] = "\nthe test program ran past its deadline: a guest stopped answering?\n";
	ssize_t n = write(STDERR_FILENO, line, sizeof(line) - 1);

	(void)sig;
	(void)n;
	_exit(1);
}

void test_deadline(unsigned int seconds)
{
	struct sigaction sa = { .sa_handler = deadline_passed };

	sigaction(SIGALRM, &sa, NULL);
	alarm(seconds);
}
