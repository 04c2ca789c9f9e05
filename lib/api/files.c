/* agentvm_vm_write_file() and agentvm_vm_read_file(): the public face of agent/files.c. */
#include <errno.h>
#include <stdlib.h>

#include "agent/files.h"
#include "agentvm.h"
#include "api/vm.h"
#include "util/error.h"

#define MODE_BITS 07777u

int agentvm_vm_write_file(agentvm_vm *vm, const char *guest_path, const void *data, size_t len,
			  uint32_t mode)
{
	int err;

	error_clear();
	err = vm_agent_check(vm, "agentvm_vm_write_file");
	if (err)
		return err;
	if (!guest_path || !*guest_path)
		return error_set(-EINVAL, "agentvm_vm_write_file: the guest path is NULL or empty");
	if (mode & ~MODE_BITS)
		return error_set(-EINVAL, "agentvm_vm_write_file: mode 0%o has bits beyond 07777",
				 mode);
	if (!data && len)
		return error_set(-EINVAL, "agentvm_vm_write_file: %zu bytes at NULL", len);
	return vm_explain_end(vm, agent_file_write(&vm->link, guest_path, data, len, mode));
}

int agentvm_vm_read_file(agentvm_vm *vm, const char *guest_path, size_t max_size,
			 void **data_out, size_t *len_out)
{
	uint8_t *data;
	int err;

	error_clear();
	err = vm_agent_check(vm, "agentvm_vm_read_file");
	if (err)
		return err;
	if (!guest_path || !*guest_path || !data_out || !len_out)
		return error_set(-EINVAL, "agentvm_vm_read_file: a NULL argument or an empty path");
	err = agent_file_read(&vm->link, guest_path, max_size, &data, len_out);
	if (!err)
		*data_out = data;
	return vm_explain_end(vm, err);
}

void agentvm_buffer_free(void *buffer)
{
	free(buffer);
}
