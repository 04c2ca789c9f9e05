/* Library-wide calls: version, the thread's last error, spare VMs. */
#include "agentvm.h"

#include <errno.h>

#include "kvm/spare.h"
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

_Static_assert(AGENTVM_MAX_SPARE_VMS == KVM_SPARE_MAX, "agentvm.h and kvm/spare.h disagree");

int agentvm_set_spare_vms(uint32_t count)
{
	error_clear();
	if (count > AGENTVM_MAX_SPARE_VMS)
		return error_set(-EINVAL, "%u spare VMs asked for; at most %d are kept", count,
				 AGENTVM_MAX_SPARE_VMS);
	return kvm_spare_set(count);
}
