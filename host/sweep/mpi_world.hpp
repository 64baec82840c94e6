#pragma once
// The MPI world when qkgeom runs under mpirun (Open MPI): rank, size and the rank on its
// node (for the local GPU). Inactive, with rank 0 of 1, when not launched by mpirun.
#include <string>

namespace qk {

class MpiWorld {
 public:
  MpiWorld();   // MPI_Init when launched by mpirun (OMPI_COMM_WORLD_SIZE set)
  ~MpiWorld();  // MPI_Finalize
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  bool active() const { return active_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  // True on every rank when every rank passes ok = true (a collective; doubles as a barrier).
  bool all_ok(bool ok) const;

 private:
  bool active_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace qk
