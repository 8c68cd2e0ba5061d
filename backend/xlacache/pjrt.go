//go:build cgo && !noxla && ((linux && (amd64 || arm64)) || (darwin && arm64) || (windows && amd64))

package xlacache

// The two PJRT C API calls go-xla v0.4.13 does not expose:
// PJRT_Executable_Serialize and PJRT_Executable_DeserializeAndLoad. They go
// through the call_PJRT_* trampolines that go-xla's pjrt package compiles
// into the binary (one per function of the plugin's PJRT_Api table), so no
// offset into that table is written here. The argument structs below follow
// the PJRT C API's ABI (pjrt_c_api.h, which go-xla ships);
// TestArgLayoutsMatchPJRTHeader compiles them beside that header and checks
// every field offset and struct size.

/*
#include <stddef.h>
#include <stdlib.h>

typedef struct {
	size_t struct_size;
	void* extension_start;
	const void* executable;                   // PJRT_Executable*
	const char* serialized_bytes;             // out
	size_t serialized_bytes_size;             // out
	void* serialized_executable;              // out: backs serialized_bytes
	void (*serialized_executable_deleter)(void*); // out
} dt_serialize_args;

typedef struct {
	size_t struct_size;
	void* extension_start;
	void* client;                             // PJRT_Client*
	const char* serialized_executable;
	size_t serialized_executable_size;
	void* loaded_executable;                  // out: PJRT_LoadedExecutable*
	const char* overridden_serialized_compile_options;
	size_t overridden_serialized_compile_options_size;
} dt_deserialize_args;

typedef struct {
	size_t struct_size;
	void* extension_start;
	const void* error;
	const char* message;                      // out, lives as long as error
	size_t message_size;                      // out
} dt_error_message_args;

typedef struct {
	size_t struct_size;
	void* extension_start;
	void* error;
} dt_error_destroy_args;

// Defined by github.com/gomlx/go-xla/pjrt (gen_api_calls.c).
extern void* call_PJRT_Executable_Serialize(const void* api, void* args);
extern void* call_PJRT_Executable_DeserializeAndLoad(const void* api, void* args);
extern void call_PJRT_Error_Message(const void* api, void* args);
extern void call_PJRT_Error_Destroy(const void* api, void* args);

// dt_no_memory is the message when a message cannot be allocated.
static char dt_no_memory[] = "out of memory";

// dt_free frees a message of dt_error.
static void dt_free(char* msg) {
	if (msg != dt_no_memory) free(msg);
}

// dt_error takes a PJRT error: its message (malloc'ed, free it with
// dt_free) and the error destroyed; NULL when there is none.
static char* dt_error(const void* api, void* err) {
	if (err == NULL) return NULL;
	dt_error_message_args m = {0};
	m.struct_size = sizeof(m);
	m.error = err;
	call_PJRT_Error_Message(api, &m);
	char* out = malloc(m.message_size + 1);
	if (out == NULL) {
		out = dt_no_memory;
	} else {
		for (size_t i = 0; i < m.message_size; i++) out[i] = m.message[i];
		out[m.message_size] = 0;
	}
	dt_error_destroy_args d = {0};
	d.struct_size = sizeof(d);
	d.error = err;
	call_PJRT_Error_Destroy(api, &d);
	return out;
}

// dt_serialize serialises executable: *bytes and *size are the plugin's
// bytes, *backing what keeps them (release it with dt_release once copied);
// returns an error message or NULL.
static char* dt_serialize(const void* api, const void* executable, const char** bytes, size_t* size, dt_serialize_args* backing) {
	dt_serialize_args a = {0};
	a.struct_size = sizeof(a);
	a.executable = executable;
	char* msg = dt_error(api, call_PJRT_Executable_Serialize(api, &a));
	if (msg != NULL) return msg;
	*bytes = a.serialized_bytes;
	*size = a.serialized_bytes_size;
	*backing = a;
	return NULL;
}

// dt_release frees a serialisation's backing memory.
static void dt_release(dt_serialize_args* a) {
	if (a->serialized_executable_deleter != NULL) a->serialized_executable_deleter(a->serialized_executable);
}

// dt_load deserialises data into a loaded executable of client (*loaded)
// with the compile options stored in it; returns an error message or NULL.
static char* dt_load(const void* api, void* client, const char* data, size_t size, void** loaded) {
	dt_deserialize_args a = {0};
	a.struct_size = sizeof(a);
	a.client = client;
	a.serialized_executable = data;
	a.serialized_executable_size = size;
	char* msg = dt_error(api, call_PJRT_Executable_DeserializeAndLoad(api, &a));
	if (msg != NULL) return msg;
	*loaded = a.loaded_executable;
	return NULL;
}
*/
import "C"

import (
	"bytes"
	"errors"
	"unsafe"
)

// pjrtSerialize returns the plugin's serialization of a compiled program
// (api: the plugin's PJRT_Api, exe: a PJRT_Executable).
func pjrtSerialize(api, exe unsafe.Pointer) ([]byte, error) {
	var data *C.char
	var size C.size_t
	var backing C.dt_serialize_args
	if msg := C.dt_serialize(api, exe, &data, &size, &backing); msg != nil {
		defer C.dt_free(msg)
		return nil, errors.New("PJRT_Executable_Serialize: " + C.GoString(msg))
	}
	defer C.dt_release(&backing)
	if data == nil || size == 0 {
		return nil, nil
	}
	return bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(data)), int(size))), nil
}

// pjrtLoad deserialises data for client (a PJRT_Client) and returns the
// PJRT_LoadedExecutable. PJRT reads data during the call only.
func pjrtLoad(api, client unsafe.Pointer, data []byte) (unsafe.Pointer, error) {
	if len(data) == 0 {
		return nil, errors.New("empty executable")
	}
	var loaded unsafe.Pointer
	if msg := C.dt_load(api, client, (*C.char)(unsafe.Pointer(&data[0])), C.size_t(len(data)), &loaded); msg != nil {
		defer C.dt_free(msg)
		return nil, errors.New("PJRT_Executable_DeserializeAndLoad: " + C.GoString(msg))
	}
	if loaded == nil {
		return nil, errors.New("PJRT_Executable_DeserializeAndLoad returned no executable")
	}
	return loaded, nil
}
