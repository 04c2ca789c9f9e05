/* Library-wide calls: version and the thread's last error. */
#include "agentvm.h"
#include "util/error.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

const char *agentvm_version(void)
{
	return STRINGIFY(AGENTVM_VERSION_MAJOR) "." STRINGIFY(AGENTVM_VERSION_MINOR) "." STRINGIFY(
		AGENTVM_VERSION_PATCH);
}

uint32_t agentvm_version_number(void)
{
	return AGENTVM_VERSION_NUMBER;
}

const char *agentvm_last_error(void)
{
	return error_get();
}
