//===- KilnMpi.cpp - libkiln-mpi: collectives between MPI processes -------===//
//
// The one piece of Kiln that links MPI (OpenMPI from Debian's packages).
// kiln-run loads it at run time when it was started by mpirun
// (runtime/MpiCollectives.h), so kiln-run itself links no MPI and runs
// without it. A C interface, so nothing of the C++ runtime crosses it.
//
// Collectives are non-blocking MPI calls polled against a deadline: a rank
// that does not arrive in time makes the waiting one say which rank and
// step it waited for, then MPI_Abort ends every process (mpirun itself
// ends them all when one dies). The all_reduce gathers every rank's part
// and adds them in rank order, so its bits equal the in-process ranks'
// (runtime/Collectives.cpp) whatever algorithm the MPI library picks.
//
//===----------------------------------------------------------------------===//

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace {

MPI_Comm group = MPI_COMM_NULL;
int worldRank = 0;

void say(char *error, size_t length, const char *what) {
  if (error && length)
    std::snprintf(error, length, "%s", what);
}

/// Waits for `request` until `timeout` seconds pass; false when they did.
bool waitFor(MPI_Request &request, double timeout) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
  int done = 0;
  int spins = 0;
  while (true) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done)
      return true;
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    // Spin briefly (collectives of a decode step take microseconds), then
    // yield the core.
    if (++spins > 1000)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

int timedOut(const char *kind, const char *where, double timeout, char *error,
             size_t length) {
  char message[512];
  std::snprintf(message, sizeof(message),
                "rank %d: collective %s at %s did not complete within %g s; "
                "ending every rank",
                worldRank, kind, where, timeout);
  say(error, length, message);
  std::fprintf(stderr, "kiln-run: error: %s\n", message);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  return 1;
}

} // namespace

extern "C" {

/// Joins MPI; the world's rank and size. Non-zero with `error` on failure.
int kiln_mpi_init(int *rank, int *size, char *error, size_t length) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized && MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
    say(error, length, "MPI_Init failed");
    return 1;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &worldRank);
  MPI_Comm_size(MPI_COMM_WORLD, size);
  *rank = worldRank;
  return 0;
}

/// The collectives' group: the world's ranks of one `color`, ordered by
/// `key`.
int kiln_mpi_group(int color, int key, char *error, size_t length) {
  if (MPI_Comm_split(MPI_COMM_WORLD, color, key, &group) != MPI_SUCCESS) {
    say(error, length, "MPI_Comm_split failed");
    return 1;
  }
  return 0;
}

} // extern "C"

namespace {

/// Every rank's `count` floats of `in`, rank after rank, in a buffer kept
/// between calls (a decode step makes two per layer); null with `error`
/// set when they do not arrive in time or do not fit one MPI call.
const float *gatherAll(const float *in, int64_t count, const char *kind,
                       const char *where, double timeout, int &ranks,
                       char *error, size_t length) {
  static std::vector<float> all;
  MPI_Comm_size(group, &ranks);
  if (count > INT32_MAX / ranks) {
    char message[128];
    std::snprintf(message, sizeof(message),
                  "%s: too many elements for one MPI call", kind);
    say(error, length, message);
    return nullptr;
  }
  all.resize(static_cast<size_t>(count) * ranks);
  MPI_Request request;
  MPI_Iallgather(in, static_cast<int>(count), MPI_FLOAT, all.data(),
                 static_cast<int>(count), MPI_FLOAT, group, &request);
  if (!waitFor(request, timeout)) {
    timedOut(kind, where, timeout, error, length);
    return nullptr;
  }
  return all.data();
}

/// One send or receive of kiln_mpi_send / kiln_mpi_recv.
int pointToPoint(bool send, int peer, void *data, int64_t bytes,
                 const char *where, double timeout, char *error,
                 size_t length) {
  if (bytes > INT32_MAX) {
    say(error, length, "send_recv: too many bytes for one MPI call");
    return 1;
  }
  MPI_Request request;
  if (send)
    MPI_Isend(data, static_cast<int>(bytes), MPI_BYTE, peer, 1, MPI_COMM_WORLD,
              &request);
  else
    MPI_Irecv(data, static_cast<int>(bytes), MPI_BYTE, peer, 1, MPI_COMM_WORLD,
              &request);
  if (!waitFor(request, timeout))
    return timedOut(send ? "send_recv (send)" : "send_recv (receive)", where,
                    timeout, error, length);
  return 0;
}

} // namespace

extern "C" {

int kiln_mpi_allreduce(float *data, int64_t count, const char *where,
                       double timeout, char *error, size_t length) {
  int ranks = 0;
  const float *all = gatherAll(data, count, "all_reduce", where, timeout, ranks,
                               error, length);
  if (!all)
    return 1;
  for (int64_t i = 0; i < count; ++i) {
    float sum = all[i];
    for (int r = 1; r < ranks; ++r)
      sum += all[static_cast<size_t>(r) * count + i];
    data[i] = sum;
  }
  return 0;
}

int kiln_mpi_allgather(const float *in, float *out, int64_t rows, int64_t cols,
                       const char *where, double timeout, char *error,
                       size_t length) {
  int ranks = 0;
  const int64_t count = rows * cols;
  const float *all =
      gatherAll(in, count, "all_gather", where, timeout, ranks, error, length);
  if (!all)
    return 1;
  for (int r = 0; r < ranks; ++r)
    for (int64_t row = 0; row < rows; ++row)
      std::memcpy(out + (row * ranks + r) * cols,
                  all + static_cast<size_t>(r) * count + row * cols,
                  cols * sizeof(float));
  return 0;
}

/// Pipeline stages (kilnc --pp): `bytes` bytes to or from world rank
/// `peer`, waited for until `timeout` seconds pass (then every process
/// ends). MPI keeps messages between two ranks in order, so the values of
/// successive send_recv steps pair up.
int kiln_mpi_send(int peer, const void *data, int64_t bytes, const char *where,
                  double timeout, char *error, size_t length) {
  return pointToPoint(true, peer, const_cast<void *>(data), bytes, where,
                      timeout, error, length);
}

int kiln_mpi_recv(int peer, void *data, int64_t bytes, const char *where,
                  double timeout, char *error, size_t length) {
  return pointToPoint(false, peer, data, bytes, where, timeout, error, length);
}

/// Ends every process: this rank failed.
void kiln_mpi_abort(const char *why) {
  std::fprintf(stderr,
               "kiln-run: error: rank %d failed: %s; ending every "
               "rank\n",
               worldRank, why);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

void kiln_mpi_finalize() {
  if (group != MPI_COMM_NULL)
    MPI_Comm_free(&group);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

} // extern "C"
