// Prints the registry of stored quantities (host/core/quantities.hpp) as the markdown
// table of docs/hdf5-schema.md; tests/reference/test_quantities_doc.py diffs the two.
#include <iostream>

#include "quantities.hpp"

int main() {
  std::cout << qk::quantities_markdown();
  return std::cout.good() ? 0 : 1;
}
