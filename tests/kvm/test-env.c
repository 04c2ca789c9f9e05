#include "test-env.h"

#include <setjmp.h>
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
