// The platform record (IMAGE.md, type 3) from the boot layout and back. The
// domain checks the layout against its memory (domain_restore.cpp).
#include "image/component_records.h"

namespace tortuga {

namespace pb = image;

pb::Platform to_record(const BootLayout& l) {
  pb::Platform platform;
  pb::Layout& p = *platform.mutable_layout();
  p.set_virt_base(l.virt_base);
  p.set_start_info_gpa(l.start_info_gpa);
  p.set_shared_info_gpa(l.shared_info_gpa);
  p.set_console_ring_gpa(l.console_ring_gpa);
  p.set_store_ring_gpa(l.store_ring_gpa);
  p.set_page_tables_gpa(l.page_tables_gpa);
  p.set_nr_page_table_frames(l.nr_page_table_frames);
  p.set_stack_top_gpa(l.stack_top_gpa);
  p.set_first_free_gpa(l.first_free_gpa);
  p.set_boot_map_end(l.boot_map_end);
  p.set_entry(l.entry);
  p.set_mod_gpa(l.mod_gpa);
  p.set_mod_len(l.mod_len);
  return platform;
}

BootLayout from_record(const pb::Platform& platform) {
  const pb::Layout& p = platform.layout();
  BootLayout l;
  l.virt_base = p.virt_base();
  l.start_info_gpa = p.start_info_gpa();
  l.shared_info_gpa = p.shared_info_gpa();
  l.console_ring_gpa = p.console_ring_gpa();
  l.store_ring_gpa = p.store_ring_gpa();
  l.page_tables_gpa = p.page_tables_gpa();
  l.nr_page_table_frames = p.nr_page_table_frames();
  l.stack_top_gpa = p.stack_top_gpa();
  l.first_free_gpa = p.first_free_gpa();
  l.boot_map_end = p.boot_map_end();
  l.entry = p.entry();
  l.mod_gpa = p.mod_gpa();
  l.mod_len = p.mod_len();
  return l;
}

}  // namespace tortuga
