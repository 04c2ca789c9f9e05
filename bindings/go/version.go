package agentvm

// #include <agentvm.h>
import "C"

// Version returns the version of the libagentvm this program runs with, "MAJOR.MINOR.PATCH".
func Version() string {
	return C.GoString(C.agentvm_version())
}
