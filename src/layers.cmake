# The layers of minimax.cpp and the allowed edges between them: the one place that says which folder
# belongs to which layer and which layers a layer may #include.
#
#   mm_layer(NAME DIRS folder... USES layer...)
#
# DIRS are folders relative to the repository root; a file belongs to the layer of the folder it is in
# (a folder's subfolders, such as src/ops/simd, belong to it too). USES lists the layers whose headers
# the layer's files may include (its own are always allowed). An edge is not implied by another one:
# engine may include model, and model may include kernels, but engine may not include kernels unless
# it says so. `*` allows every layer.
#
# Who reads this table:
#   - CMakeLists.txt builds one static library per layer, mm_<NAME>, from the .cpp files of its DIRS,
#     and links it to exactly the mm_<USES> libraries (so the link graph is this table).
#     `tools` is not a library: it is the `minimax` executable.
#   - tests/layering.cmake (ctest `layering`) scans every file of every layer and fails on an
#     #include of a layer its USES does not list, naming the file, the line and the edge. A folder of
#     src/ that no layer claims fails it too, and so does a cycle in the table itself.
# Tests (tests/) are exempt.
#
#   mm_external(HEADER LAYERS layer...)
#
# External libraries are linked in CMakeLists.txt, each by the layers that use it only; an external
# library listed here may be included (`#include <HEADER...>`, the header or a folder of headers) only
# by the layers named (and by a layer whose USES is `*`), also checked by tests/layering.cmake.

macro(mm_layer name)
  cmake_parse_arguments(_mm_layer "" "" "DIRS;USES" ${ARGN})
  list(APPEND MM_LAYERS ${name})
  set(MM_LAYER_${name}_DIRS ${_mm_layer_DIRS})
  set(MM_LAYER_${name}_USES ${_mm_layer_USES})
endmacro()

macro(mm_external header)
  cmake_parse_arguments(_mm_external "" "" "LAYERS" ${ARGN})
  list(APPEND MM_EXTERNALS ${header})
  set(MM_EXTERNAL_${header}_LAYERS ${_mm_external_LAYERS})
endmacro()

set(MM_LAYERS "")
#        layer    folders                          may include
mm_layer(core     DIRS src/core                    USES)
mm_layer(kernels  DIRS src/ops                     USES core)
mm_layer(io       DIRS src/io                      USES core)
mm_layer(model    DIRS src/model src/state         USES core kernels io)
mm_layer(text     DIRS src/tokenizer src/chat      USES core)
mm_layer(engine   DIRS src/engine src/sampling     USES core model text)
mm_layer(server   DIRS src/server                  USES core engine text)
mm_layer(convert  DIRS src/convert                 USES core kernels io model)
# The trainer: owned parameters, the model's backward pass, optimizer, data, checkpoints, export.
mm_layer(train    DIRS src/train                   USES core kernels io model convert text)
# The public API: its headers (include/minimax/, included as "minimax/...") and their facade functions.
mm_layer(api      DIRS src/api include/minimax     USES core kernels io model text engine server convert train)
# The CLI uses the public API only (and core: errors, the execution context).
mm_layer(tools    DIRS tools                       USES core api)

set(MM_EXTERNALS "")
mm_external(httplib.h   LAYERS server)
mm_external(pcre2.h     LAYERS text)
mm_external(utf8proc.h  LAYERS text)
mm_external(hwy/        LAYERS kernels)
