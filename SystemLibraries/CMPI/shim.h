// Thin shim over the MPI C API (Open MPI 4.x, found through pkg-config `ompi-c`).
//
// mpi.h names its predefined handles and special values with macros that Swift cannot import:
// in Open MPI MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_ERRORS_RETURN, MPI_REQUEST_NULL, ... are
// casts of the addresses of library globals, MPI_IN_PLACE and MPI_STATUS_IGNORE are casts of
// integer constants, and MPI_MAX_ERROR_STRING expands to another library's macro. Each is
// returned here by a small static inline function, named after the macro in lower case with a
// `tessera_` prefix. Plain integer constants that Swift imports directly (MPI_SUCCESS,
// MPI_THREAD_*, MPI_COMM_TYPE_SHARED, MPI_ANY_SOURCE, ...) are wrapped as well, so that Swift
// code does not depend on which of them an MPI implementation defines as enumerators or macros.
#ifndef TESSERA_CMPI_SHIM_H
#define TESSERA_CMPI_SHIM_H
#include <mpi.h>

// Communicators, requests, info, error handlers.
static inline MPI_Comm tessera_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm tessera_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Request tessera_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Info tessera_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Errhandler tessera_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }

// Datatypes and reduction operations.
static inline MPI_Datatype tessera_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype tessera_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype tessera_mpi_int64_t(void) { return MPI_INT64_T; }
static inline MPI_Datatype tessera_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op tessera_mpi_sum(void) { return MPI_SUM; }

// Special buffer and status arguments.
static inline void *tessera_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *tessera_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }

// Integer constants.
static inline int tessera_mpi_success(void) { return MPI_SUCCESS; }
static inline int tessera_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int tessera_mpi_any_tag(void) { return MPI_ANY_TAG; }
static inline int tessera_mpi_undefined(void) { return MPI_UNDEFINED; }
static inline int tessera_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int tessera_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int tessera_mpi_thread_single(void) { return MPI_THREAD_SINGLE; }
static inline int tessera_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int tessera_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int tessera_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
#endif
