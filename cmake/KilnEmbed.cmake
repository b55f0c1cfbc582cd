# cmake -DINPUT=FILE -DOUTPUT=FILE.cpp -DSYMBOL=NAME -P KilnEmbed.cmake
# Writes FILE's bytes as `extern "C" const unsigned char NAME[]` and
# `NAME##Size`, so a binary carries them without any file beside it. The
# array is 64-byte aligned: the CUDA driver reads a fatbin image in place.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" length)
math(EXPR bytes "${length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" body "${body}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT}; do not edit.\n#include <cstddef>\nextern \"C\" alignas(64) const unsigned char ${SYMBOL}[] = {\n${body}0x00};\nextern \"C\" const size_t ${SYMBOL}Size = ${bytes};\n")
