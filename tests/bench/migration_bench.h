// `make bench`'s live migration table: the test guest's counter domain,
// idle and dirtying memory, migrated between two domains in this process
// over a loopback TCP connection (hypervisor/migration/MIGRATION.md).
#pragma once

#include <string>

namespace tortuga::bench {

// Prints the table; throws std::runtime_error if a migration fails.
void print_migration_table(const std::string& guest);

}  // namespace tortuga::bench
