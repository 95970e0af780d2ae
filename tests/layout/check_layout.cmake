# The layout rules of the tree (issue 14), checked on every test run:
#  - no source file directly in hypervisor/ (only CMakeLists.txt, README.md
#    and one folder per concept);
#  - no file under toolstack/ includes a header of hypervisor/, and no file
#    under hypervisor/ includes one of toolstack/ (what they share is in
#    base/ or is a generated protobuf header);
#  - backend-drivers/ closes no descriptor by hand (UniqueFd owns them).
# Run as: cmake -DROOT=<source dir> -P check_layout.cmake
cmake_minimum_required(VERSION 3.25)
if(NOT ROOT)
  message(FATAL_ERROR "check_layout: pass -DROOT=<source dir>")
endif()
set(problems "")

file(GLOB top RELATIVE ${ROOT}/hypervisor ${ROOT}/hypervisor/*)
foreach(entry IN LISTS top)
  if(NOT IS_DIRECTORY ${ROOT}/hypervisor/${entry} AND NOT entry MATCHES "^(CMakeLists.txt|README.md)$")
    list(APPEND problems "hypervisor/${entry} sits directly in hypervisor/ (put it in the folder of its concept)")
  endif()
endforeach()

# Header names a side owns: hypervisor's by their path from hypervisor/,
# toolstack's by their file name (it includes them by name).
file(GLOB_RECURSE hv_headers RELATIVE ${ROOT}/hypervisor ${ROOT}/hypervisor/*.h)
file(GLOB_RECURSE ts_header_paths ${ROOT}/toolstack/*.h)
set(ts_headers "")
foreach(p IN LISTS ts_header_paths)
  get_filename_component(name ${p} NAME)
  list(APPEND ts_headers ${name})
endforeach()

function(check_includes dir forbidden what)
  file(GLOB_RECURSE sources ${ROOT}/${dir}/*.h ${ROOT}/${dir}/*.cpp)
  foreach(src IN LISTS sources)
    file(STRINGS ${src} lines REGEX "^#include \"[^\"]+\"")
    foreach(line IN LISTS lines)
      string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" inc "${line}")
      if(inc IN_LIST forbidden)
        file(RELATIVE_PATH rel ${ROOT} ${src})
        set(problems "${problems};${rel} includes ${inc}, a header of ${what}" PARENT_SCOPE)
      endif()
    endforeach()
  endforeach()
endfunction()
check_includes(toolstack "${hv_headers}" "hypervisor/")
check_includes(hypervisor "${ts_headers}" "toolstack/")

file(GLOB backend_sources ${ROOT}/backend-drivers/*.cpp ${ROOT}/backend-drivers/*.h)
foreach(src IN LISTS backend_sources)
  file(STRINGS ${src} closes REGEX "::close\\(")
  if(closes)
    file(RELATIVE_PATH rel ${ROOT} ${src})
    list(APPEND problems "${rel} calls close by hand (own the descriptor with UniqueFd)")
  endif()
endforeach()

list(FILTER problems EXCLUDE REGEX "^$")
if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "layout rules broken:\n  ${text}")
endif()
message(STATUS "layout: hypervisor/ in folders, no include across hypervisor/ and toolstack/, no close by hand in backend-drivers/")
