package agentvm

// #include <agentvm.h>
import "C"

// MaxSpareVMs is the most VMs SetSpareVMs keeps created ahead of need.
const MaxSpareVMs = C.AGENTVM_MAX_SPARE_VMS

// SetSpareVMs keeps count KVM VMs created ahead of need in this process: New
// and Restore take one instead of creating their own, and a library thread
// creates the next in the background. On Linux 6.1-6.12 creating a VM waits
// for an RCU grace period, the longest single step of a restore. The same
// thread closes what Close leaves of a VM (KVM's teardown waits too). Each
// spare holds two descriptors and a KVM VM; 0, the default, closes them.
func SetSpareVMs(count int) error {
	if count < 0 || count > MaxSpareVMs {
		return invalid("set spare VMs", "%d spare VMs asked for; 0 to %d are possible", count, MaxSpareVMs)
	}
	return call("set spare VMs", func() C.int { return C.agentvm_set_spare_vms(C.uint32_t(count)) })
}
