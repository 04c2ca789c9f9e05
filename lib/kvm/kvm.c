#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/error.h"

#define KVM_DEVICE_PATH "/dev/kvm"

int kvm_open(struct kvm *kvm)
{
	int version, size, err;

	kvm->vm_fd = -1;
	kvm->sys_fd = open(KVM_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (kvm->sys_fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return error_set(-ENODEV, "%s does not exist: this host has no KVM "
					 "(load kvm-intel or kvm-amd, or run inside a VM with nested virtualization)",
					 KVM_DEVICE_PATH);
		return error_set_errno(err, "cannot open %s", KVM_DEVICE_PATH);
	}
	version = ioctl(kvm->sys_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		err = error_set(-ENOTSUP, "%s speaks KVM API %d, the library needs %d",
				KVM_DEVICE_PATH, version, KVM_API_VERSION);
		goto fail;
	}
	size = ioctl(kvm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0) {
		err = error_set_errno(-errno, "KVM_GET_VCPU_MMAP_SIZE");
		goto fail;
	}
	kvm->run_mmap_size = (size_t)size;
	/* KVM_CREATE_VM can fail with EINTR when a signal arrives mid-way; retry as the API says. */
	do {
		kvm->vm_fd = ioctl(kvm->sys_fd, KVM_CREATE_VM, 0);
	} while (kvm->vm_fd < 0 && errno == EINTR);
	if (kvm->vm_fd < 0) {
		err = error_set_errno(-errno, "KVM_CREATE_VM");
		goto fail;
	}
	return 0;
fail:
	close(kvm->sys_fd);
	kvm->sys_fd = -1;
	return err;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->sys_fd >= 0)
		close(kvm->sys_fd);
	kvm->vm_fd = kvm->sys_fd = -1;
}

int kvm_capability(const struct kvm *kvm, long capability)
{
	int r = ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, capability);

	return r < 0 ? 0 : r;
}

int kvm_require(const struct kvm *kvm, long capability, const char *name)
{
	if (kvm_capability(kvm, capability) <= 0)
		return error_set(-ENOTSUP, "this host's KVM lacks %s, which the library needs", name);
	return 0;
}
