// Builds without MPI: refuse to run under mpirun rather than run N copies of one shard.
#include <cstdlib>
#include <stdexcept>

#include "mpi_world.hpp"

namespace qk {

MpiWorld::MpiWorld() {
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr)
    throw std::runtime_error(
        "launched under mpirun, but this build of qkgeom has no MPI "
        "(install libopenmpi-dev and rebuild)");
}

MpiWorld::~MpiWorld() = default;

bool MpiWorld::all_ok(bool ok) const { return ok; }

}  // namespace qk
