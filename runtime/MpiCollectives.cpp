//===- MpiCollectives.cpp - ranks that are MPI processes ------------------===//

#include "runtime/MpiCollectives.h"

#include "runtime/Collectives.h"

#include "absl/strings/str_cat.h"

#include <cstdint>
#include <cstdlib>
#include <dlfcn.h>
#include <memory>
#include <string>
#include <sys/types.h>
#include <unistd.h>
#include <utility>

namespace kiln::rt {

struct MpiWorld::Api {
  int (*init)(int *, int *, char *, size_t);
  int (*group)(int, int, char *, size_t);
  int (*allReduce)(float *, int64_t, const char *, double, char *, size_t);
  int (*allGather)(const float *, float *, int64_t, int64_t, const char *,
                   double, char *, size_t);
  int (*send)(int, const void *, int64_t, const char *, double, char *, size_t);
  int (*recv)(int, void *, int64_t, const char *, double, char *, size_t);
  void (*abort)(const char *);
  void (*finalize)();
};

bool launchedByMpi() {
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char *size = std::getenv(name); size && std::atoi(size) > 1)
      return true;
  return false;
}

int mpiLocalRanks() {
  const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  return local && std::atoi(local) > 0 ? std::atoi(local) : 1;
}

namespace {

/// The folder of this executable.
std::string ownFolder() {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0)
    return "";
  std::string p(path, n);
  return p.substr(0, p.rfind('/'));
}

class MpiMember : public Communicator {
public:
  MpiMember(const MpiWorld::Api &api, int rank, int size, double timeout)
      : api_(api), rank_(rank), size_(size), timeout_(timeout) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  absl::Status allReduce(float *data, int64_t count,
                         const std::string &where) override {
    char error[512] = {0};
    movedBytes += count * static_cast<int64_t>(sizeof(float));
    if (api_.allReduce(data, count, where.c_str(), timeout_, error,
                       sizeof(error)))
      return absl::DeadlineExceededError(error);
    return absl::OkStatus();
  }
  absl::Status allGather(const float *in, float *out, int64_t rows,
                         int64_t cols, const std::string &where) override {
    char error[512] = {0};
    movedBytes += rows * cols * static_cast<int64_t>(sizeof(float));
    if (api_.allGather(in, out, rows, cols, where.c_str(), timeout_, error,
                       sizeof(error)))
      return absl::DeadlineExceededError(error);
    return absl::OkStatus();
  }
  void abort(const std::string &why) override { api_.abort(why.c_str()); }

private:
  const MpiWorld::Api &api_;
  int rank_, size_;
  double timeout_;
};

class MpiStage : public StageLink {
public:
  MpiStage(const MpiWorld::Api &api, int stage, int stages, int firstRank,
           int stride, double timeout)
      : api_(api), stage_(stage), stages_(stages), firstRank_(firstRank),
        stride_(stride), timeout_(timeout) {}
  int stage() const override { return stage_; }
  int stages() const override { return stages_; }
  absl::Status send(int to, const void *data, int64_t bytes,
                    const std::string &where) override {
    char error[512] = {0};
    sentBytes += bytes;
    return status(api_.send(firstRank_ + to * stride_, data, bytes,
                            where.c_str(), timeout_, error, sizeof(error)),
                  error);
  }
  absl::Status recv(int from, void *data, int64_t bytes,
                    const std::string &where) override {
    char error[512] = {0};
    return status(api_.recv(firstRank_ + from * stride_, data, bytes,
                            where.c_str(), timeout_, error, sizeof(error)),
                  error);
  }
  void abort(const std::string &why) override { api_.abort(why.c_str()); }

private:
  static absl::Status status(int failed, const char *error) {
    return failed ? absl::DeadlineExceededError(error) : absl::OkStatus();
  }

  const MpiWorld::Api &api_;
  int stage_, stages_, firstRank_, stride_;
  double timeout_;
};

} // namespace

absl::StatusOr<std::unique_ptr<MpiWorld>> MpiWorld::open() {
  std::unique_ptr<MpiWorld> world(new MpiWorld());
  const std::string folder = ownFolder();
  std::string tried;
  for (const std::string &candidate :
       {folder + "/libkiln-mpi.so", folder + "/../lib/libkiln-mpi.so",
        std::string("libkiln-mpi.so")}) {
    world->library_ = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (world->library_)
      break;
    tried += (tried.empty() ? "" : "; ") + std::string(dlerror());
  }
  if (!world->library_)
    return absl::UnavailableError(absl::StrCat(
        "started by mpirun, but libkiln-mpi (Kiln's MPI collectives) cannot "
        "be loaded: ",
        tried, " (build Kiln where MPI is installed: libopenmpi-dev)"));
  auto api = std::make_unique<Api>();
  auto load = [&](const char *name) { return dlsym(world->library_, name); };
  api->init = reinterpret_cast<decltype(api->init)>(load("kiln_mpi_init"));
  api->group = reinterpret_cast<decltype(api->group)>(load("kiln_mpi_group"));
  api->allReduce =
      reinterpret_cast<decltype(api->allReduce)>(load("kiln_mpi_allreduce"));
  api->allGather =
      reinterpret_cast<decltype(api->allGather)>(load("kiln_mpi_allgather"));
  api->send = reinterpret_cast<decltype(api->send)>(load("kiln_mpi_send"));
  api->recv = reinterpret_cast<decltype(api->recv)>(load("kiln_mpi_recv"));
  api->abort = reinterpret_cast<decltype(api->abort)>(load("kiln_mpi_abort"));
  api->finalize =
      reinterpret_cast<decltype(api->finalize)>(load("kiln_mpi_finalize"));
  if (!api->init || !api->group || !api->allReduce || !api->allGather ||
      !api->send || !api->recv || !api->abort || !api->finalize)
    return absl::UnavailableError(
        "libkiln-mpi lacks a function this kiln-run needs (a library of "
        "another Kiln version?)");
  char error[512] = {0};
  if (api->init(&world->rank_, &world->size_, error, sizeof(error)))
    return absl::UnavailableError(absl::StrCat("MPI: ", error));
  world->api_ = std::move(api);
  return world;
}

absl::StatusOr<std::unique_ptr<Communicator>>
MpiWorld::group(int color, int key, int groupSize, double timeoutSeconds) {
  char error[512] = {0};
  if (api_->group(color, key, error, sizeof(error)))
    return absl::UnavailableError(absl::StrCat("MPI: ", error));
  return std::unique_ptr<Communicator>(
      new MpiMember(*api_, key, groupSize, timeoutSeconds));
}

std::unique_ptr<StageLink> MpiWorld::pipeline(int stage, int stages,
                                              int firstRank, int stride,
                                              double timeoutSeconds) {
  return std::make_unique<MpiStage>(*api_, stage, stages, firstRank, stride,
                                    timeoutSeconds);
}

MpiWorld::~MpiWorld() {
  if (api_)
    api_->finalize();
  // The library stays loaded: MPI's own threads may still run its code.
}

} // namespace kiln::rt
