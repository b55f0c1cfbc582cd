// RUN: kiln-opt %s --kiln-decompose --split-input-file | FileCheck %s
// The decomposed IR must also verify and round-trip.
// RUN: kiln-opt %s --kiln-decompose --split-input-file | kiln-opt --split-input-file --verify-each

// GPT-2's Conv1D weight ([in, out]) is used as stored: no transpose.
// CHECK-LABEL: func.func @linear_in_out
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x768xf32>, %[[W:[^:]+]]: tensor<768x3072xf32>, %[[B:[^:]+]]: tensor<3072xf32>)
func.func @linear_in_out(%x: tensor<?x?x768xf32>, %w: tensor<768x3072xf32>, %b: tensor<3072xf32>) -> tensor<?x?x3072xf32> {
  // CHECK: %[[MM:.+]] = kiln.matmul %[[X]], %[[W]] : tensor<?x?x768xf32>, tensor<768x3072xf32> -> tensor<?x?x3072xf32>
  // CHECK: %[[BIAS:.+]] = kiln.add %[[MM]], %[[B]] : tensor<?x?x3072xf32>, tensor<3072xf32> -> tensor<?x?x3072xf32>
  // CHECK: %[[ACT:.+]] = kiln.gelu tanh %[[BIAS]] : tensor<?x?x3072xf32>
  // CHECK: return %[[ACT]]
  %0 = kiln.linear %x, %w bias %b layout in_out activation gelu_tanh
      : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>) -> tensor<?x?x3072xf32>
  return %0 : tensor<?x?x3072xf32>
}

// -----

// torch.nn.Linear's [out, in] weight: the matmul reads it transposed.
// CHECK-LABEL: func.func @linear_out_in
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x768xf32>, %[[W:[^:]+]]: tensor<3072x768xf32>, %[[R:[^:]+]]: tensor<?x?x3072xf32>)
func.func @linear_out_in(%x: tensor<?x?x768xf32>, %w: tensor<3072x768xf32>, %r: tensor<?x?x3072xf32>)
    -> (tensor<?x?x3072xf32>, tensor<?x?x3072xf32>, tensor<?x?x3072xf32>) {
  // CHECK: %[[MM:.+]] = kiln.matmul %[[X]], %[[W]] transpose_rhs : tensor<?x?x768xf32>, tensor<3072x768xf32> -> tensor<?x?x3072xf32>
  // CHECK: %[[ERF:.+]] = kiln.gelu erf %[[MM]]
  // CHECK: %[[OUT:.+]] = kiln.add %[[ERF]], %[[R]] : tensor<?x?x3072xf32>
  %0 = kiln.linear %x, %w residual %r layout out_in activation gelu_erf
      : (tensor<?x?x768xf32>, tensor<3072x768xf32>, tensor<?x?x3072xf32>) -> tensor<?x?x3072xf32>
  // CHECK: %[[MM2:.+]] = kiln.matmul %[[X]], %[[W]] transpose_rhs
  // CHECK: %[[RELU:.+]] = kiln.relu %[[MM2]]
  %1 = kiln.linear %x, %w layout out_in activation relu
      : (tensor<?x?x768xf32>, tensor<3072x768xf32>) -> tensor<?x?x3072xf32>
  // CHECK: %[[MM3:.+]] = kiln.matmul %[[X]], %[[W]] transpose_rhs
  // CHECK: %[[SILU:.+]] = kiln.silu %[[MM3]]
  %2 = kiln.linear %x, %w layout out_in activation silu
      : (tensor<?x?x768xf32>, tensor<3072x768xf32>) -> tensor<?x?x3072xf32>
  // CHECK: return %[[OUT]], %[[RELU]], %[[SILU]]
  return %0, %1, %2 : tensor<?x?x3072xf32>, tensor<?x?x3072xf32>, tensor<?x?x3072xf32>
}

// -----

// Multi-head causal attention (GPT-2 small's shape): heads split out of the
// packed hidden dim, Q K^T scaled by 1/sqrt(64), causal mask, softmax over
// keys, P V, heads packed back.
// CHECK-LABEL: func.func @attention_causal
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x?x768xf32>, %[[K:[^:]+]]: tensor<?x?x768xf32>, %[[V:[^:]+]]: tensor<?x?x768xf32>)
func.func @attention_causal(%q: tensor<?x?x768xf32>, %k: tensor<?x?x768xf32>, %v: tensor<?x?x768xf32>) -> tensor<?x?x768xf32> {
  // CHECK: %[[Q4:.+]] = kiln.reshape %[[Q]] : tensor<?x?x768xf32> -> tensor<?x?x12x64xf32>
  // CHECK: %[[QT:.+]] = kiln.transpose %[[Q4]] [0, 2, 1, 3] : tensor<?x?x12x64xf32> -> tensor<?x12x?x64xf32>
  // CHECK: %[[QG5:.+]] = kiln.reshape %[[QT]] : tensor<?x12x?x64xf32> -> tensor<?x12x1x?x64xf32>
  // CHECK: %[[QG:.+]] = kiln.reshape %[[QG5]] : tensor<?x12x1x?x64xf32> -> tensor<?x12x?x64xf32>
  // CHECK: %[[K4:.+]] = kiln.reshape %[[K]]
  // CHECK: %[[KT:.+]] = kiln.transpose %[[K4]] [0, 2, 1, 3]
  // CHECK: %[[V4:.+]] = kiln.reshape %[[V]]
  // CHECK: %[[VT:.+]] = kiln.transpose %[[V4]] [0, 2, 1, 3]
  // CHECK: %[[S:.+]] = kiln.matmul %[[QG]], %[[KT]] transpose_rhs : tensor<?x12x?x64xf32>, tensor<?x12x?x64xf32> -> tensor<?x12x?x?xf32>
  // CHECK: %[[SCALE:.+]] = kiln.constant dense<1.250000e-01> : tensor<f32>
  // CHECK: %[[SS:.+]] = kiln.mul %[[S]], %[[SCALE]]
  // CHECK: %[[S5:.+]] = kiln.reshape %[[SS]] : tensor<?x12x?x?xf32> -> tensor<?x12x1x?x?xf32>
  // CHECK: %[[M:.+]] = kiln.causal_mask %[[S5]] : tensor<?x12x1x?x?xf32>
  // CHECK: %[[P:.+]] = kiln.softmax %[[M]] dim 4
  // CHECK: %[[P4:.+]] = kiln.reshape %[[P]] : tensor<?x12x1x?x?xf32> -> tensor<?x12x?x?xf32>
  // CHECK: %[[O:.+]] = kiln.matmul %[[P4]], %[[VT]] : tensor<?x12x?x?xf32>, tensor<?x12x?x64xf32> -> tensor<?x12x?x64xf32>
  // CHECK: %[[O5:.+]] = kiln.reshape %[[O]] : tensor<?x12x?x64xf32> -> tensor<?x12x1x?x64xf32>
  // CHECK: %[[O4:.+]] = kiln.reshape %[[O5]] : tensor<?x12x1x?x64xf32> -> tensor<?x12x?x64xf32>
  // CHECK: %[[OT:.+]] = kiln.transpose %[[O4]] [0, 2, 1, 3] : tensor<?x12x?x64xf32> -> tensor<?x?x12x64xf32>
  // CHECK: %[[OUT:.+]] = kiln.reshape %[[OT]] : tensor<?x?x12x64xf32> -> tensor<?x?x768xf32>
  // CHECK: return %[[OUT]]
  %0 = kiln.attention %q, %k, %v heads 12 kv_heads 12 mask causal
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return %0 : tensor<?x?x768xf32>
}

// -----

// Grouped-query attention keeps keys unrepeated: 8 query heads in 2 groups
// of 4 per kv head.
// CHECK-LABEL: func.func @attention_gqa
func.func @attention_gqa(%q: tensor<?x?x512xf32>, %kv: tensor<?x?x128xf32>) -> tensor<?x?x512xf32> {
  // CHECK: kiln.reshape %{{.+}} : tensor<?x8x?x64xf32> -> tensor<?x2x4x?x64xf32>
  // CHECK: %[[QG:.+]] = kiln.reshape %{{.+}} : tensor<?x2x4x?x64xf32> -> tensor<?x2x?x64xf32>
  // CHECK: %[[K:.+]] = kiln.transpose %{{.+}} [0, 2, 1, 3] : tensor<?x?x2x64xf32> -> tensor<?x2x?x64xf32>
  // CHECK: kiln.matmul %[[QG]], %[[K]] transpose_rhs : tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32> -> tensor<?x2x?x?xf32>
  // CHECK: kiln.reshape %{{.+}} : tensor<?x2x?x?xf32> -> tensor<?x2x4x?x?xf32>
  // CHECK: kiln.softmax %{{.+}} dim 4 : tensor<?x2x4x?x?xf32>
  // CHECK: kiln.reshape %{{.+}} : tensor<?x2x4x?x64xf32> -> tensor<?x8x?x64xf32>
  %0 = kiln.attention %q, %kv, %kv heads 8 kv_heads 2 mask none
      : (tensor<?x?x512xf32>, tensor<?x?x128xf32>, tensor<?x?x128xf32>) -> tensor<?x?x512xf32>
  return %0 : tensor<?x?x512xf32>
}

// -----

// BERT's padding mask: (1 - mask) * lowest added to the scores per key.
// T5's bias: added as given, no scaling (scale 1.0).
// CHECK-LABEL: func.func @attention_padding_and_bias
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x?x256xf32>, %[[MASK:[^:]+]]: tensor<?x?xi64>, %[[BIAS:[^:]+]]: tensor<1x4x?x?xf32>)
func.func @attention_padding_and_bias(%q: tensor<?x?x256xf32>, %mask: tensor<?x?xi64>, %bias: tensor<1x4x?x?xf32>) -> tensor<?x?x256xf32> {
  // CHECK: %[[S:.+]] = kiln.matmul
  // CHECK-NOT: kiln.mul %[[S]]
  // CHECK: %[[S5:.+]] = kiln.reshape %[[S]] : tensor<?x4x?x?xf32> -> tensor<?x4x1x?x?xf32>
  // CHECK: %[[B5:.+]] = kiln.reshape %[[BIAS]] : tensor<1x4x?x?xf32> -> tensor<1x4x1x?x?xf32>
  // CHECK: %[[SB:.+]] = kiln.add %[[S5]], %[[B5]] : tensor<?x4x1x?x?xf32>, tensor<1x4x1x?x?xf32> -> tensor<?x4x1x?x?xf32>
  // CHECK: %[[MF:.+]] = kiln.cast %[[MASK]] : tensor<?x?xi64> -> tensor<?x?xf32>
  // CHECK: %[[ONE:.+]] = kiln.constant dense<1.000000e+00> : tensor<f32>
  // CHECK: %[[INV:.+]] = kiln.sub %[[ONE]], %[[MF]]
  // CHECK: %[[LOW:.+]] = kiln.constant dense<-3.40282347E+38> : tensor<f32>
  // CHECK: %[[ADD:.+]] = kiln.mul %[[INV]], %[[LOW]]
  // CHECK: %[[ADD5:.+]] = kiln.reshape %[[ADD]] : tensor<?x?xf32> -> tensor<?x1x1x1x?xf32>
  // CHECK: %[[SM:.+]] = kiln.add %[[SB]], %[[ADD5]]
  // CHECK-NOT: kiln.causal_mask
  // CHECK: kiln.softmax %[[SM]] dim 4
  %0 = kiln.attention %q, %q, %q heads 4 kv_heads 4 mask padding key_mask %mask bias %bias scale 1.0
      : (tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?x256xf32>, tensor<?x?xi64>, tensor<1x4x?x?xf32>) -> tensor<?x?x256xf32>
  return %0 : tensor<?x?x256xf32>
}

// -----

// With a cache: new rows written at each sequence's position, attention
// over the whole cache with per-sequence causal offsets, caches returned.
// CHECK-LABEL: func.func @attention_cached
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x1x512xf32>, %[[K:[^:]+]]: tensor<?x1x128xf32>, %[[V:[^:]+]]: tensor<?x1x128xf32>, %[[KC:[^:]+]]: tensor<?x64x128xf32>, %[[VC:[^:]+]]: tensor<?x64x128xf32>, %[[POS:[^:]+]]: tensor<?xi64>)
func.func @attention_cached(%q: tensor<?x1x512xf32>, %k: tensor<?x1x128xf32>, %v: tensor<?x1x128xf32>,
                            %kc: tensor<?x64x128xf32>, %vc: tensor<?x64x128xf32>, %pos: tensor<?xi64>)
    -> (tensor<?x1x512xf32>, tensor<?x64x128xf32>, tensor<?x64x128xf32>) {
  // CHECK: %[[KC2:.+]] = kiln.cache_write %[[KC]][%[[POS]]] = %[[K]] : tensor<?x64x128xf32>, tensor<?x1x128xf32>, tensor<?xi64>
  // CHECK: %[[VC2:.+]] = kiln.cache_write %[[VC]][%[[POS]]] = %[[V]]
  // CHECK: kiln.reshape %[[KC2]] : tensor<?x64x128xf32> -> tensor<?x64x2x64xf32>
  // CHECK: kiln.matmul {{.+}} -> tensor<?x2x4x64xf32>
  // CHECK: %[[M:.+]] = kiln.causal_mask %{{.+}} offsets %[[POS]] : tensor<?x2x4x1x64xf32>, tensor<?xi64>
  // CHECK: kiln.softmax %[[M]] dim 4
  // CHECK: %[[OUT:.+]] = kiln.reshape %{{.+}} : tensor<?x1x8x64xf32> -> tensor<?x1x512xf32>
  // CHECK: return %[[OUT]], %[[KC2]], %[[VC2]]
  %o, %k2, %v2 = kiln.attention %q, %k, %v heads 8 kv_heads 2 mask causal cache(%kc, %vc, %pos)
      : (tensor<?x1x512xf32>, tensor<?x1x128xf32>, tensor<?x1x128xf32>, tensor<?x64x128xf32>, tensor<?x64x128xf32>, tensor<?xi64>)
      -> (tensor<?x1x512xf32>, tensor<?x64x128xf32>, tensor<?x64x128xf32>)
  return %o, %k2, %v2 : tensor<?x1x512xf32>, tensor<?x64x128xf32>, tensor<?x64x128xf32>
}

// -----

// Llama's rotate-half rotary embedding. inv_freq is computed at compile time
// (head_dim 8, theta 10000: 1, 0.1, 0.01, 0.001).
// CHECK-LABEL: func.func @rotary
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x16xf32>, %[[P:[^:]+]]: tensor<?x?xi64>)
func.func @rotary(%x: tensor<?x?x16xf32>, %p: tensor<?x?xi64>) -> tensor<?x?x16xf32> {
  // CHECK: %[[INV:.+]] = kiln.constant dense<[1.000000e+00, 1.000000e-01, 0.00999999977, 1.000000e-03]> : tensor<4xf32>
  // CHECK: %[[PF:.+]] = kiln.cast %[[P]] : tensor<?x?xi64> -> tensor<?x?xf32>
  // CHECK: %[[P3:.+]] = kiln.reshape %[[PF]] : tensor<?x?xf32> -> tensor<?x?x1xf32>
  // CHECK: %[[F:.+]] = kiln.mul %[[P3]], %[[INV]] : tensor<?x?x1xf32>, tensor<4xf32> -> tensor<?x?x4xf32>
  // CHECK: %[[EMB:.+]] = kiln.concat %[[F]], %[[F]] dim 2 : tensor<?x?x4xf32>, tensor<?x?x4xf32> -> tensor<?x?x8xf32>
  // CHECK: %[[COS:.+]] = kiln.cos %[[EMB]]
  // CHECK: %[[COS4:.+]] = kiln.reshape %[[COS]] : tensor<?x?x8xf32> -> tensor<?x?x1x8xf32>
  // CHECK: %[[SIN:.+]] = kiln.sin %[[EMB]]
  // CHECK: %[[SIN4:.+]] = kiln.reshape %[[SIN]] : tensor<?x?x8xf32> -> tensor<?x?x1x8xf32>
  // CHECK: %[[X4:.+]] = kiln.reshape %[[X]] : tensor<?x?x16xf32> -> tensor<?x?x2x8xf32>
  // CHECK: %[[X1:.+]] = kiln.slice %[[X4]] dim 3 [0 : 4]
  // CHECK: %[[X2:.+]] = kiln.slice %[[X4]] dim 3 [4 : 8]
  // CHECK: %[[NX2:.+]] = kiln.neg %[[X2]]
  // CHECK: %[[ROT:.+]] = kiln.concat %[[NX2]], %[[X1]] dim 3
  // CHECK: %[[RS:.+]] = kiln.mul %[[ROT]], %[[SIN4]]
  // CHECK: %[[XC:.+]] = kiln.mul %[[X4]], %[[COS4]]
  // CHECK: %[[SUM:.+]] = kiln.add %[[XC]], %[[RS]]
  // CHECK: %[[OUT:.+]] = kiln.reshape %[[SUM]] : tensor<?x?x2x8xf32> -> tensor<?x?x16xf32>
  // CHECK: return %[[OUT]]
  %0 = kiln.rotary %x, %p heads 2 theta 1.0e+04 : tensor<?x?x16xf32>, tensor<?x?xi64>
  return %0 : tensor<?x?x16xf32>
}

// -----

// llama3 scaling: with original context 16, the wavelengths 2*pi/f are
// 6.28, 62.8, 628, 6283. The last three exceed 16/low_freq_factor = 16 and
// are divided by the factor 8; the first lies between 16/high_freq_factor = 4
// and 16, so it is interpolated: s = (16/6.28 - 1) / 3 = 0.515,
// (1 - s) / 8 + s = 0.576 (values checked against transformers' formula).
// CHECK-LABEL: func.func @rotary_llama3
func.func @rotary_llama3(%x: tensor<?x?x16xbf16>, %p: tensor<?xi32>) -> tensor<?x?x16xbf16> {
  // CHECK: kiln.constant dense<[0.576056361, 1.250000e-02, 1.250000e-03, 1.250000e-04]> : tensor<4xf32>
  // CHECK: kiln.cast %{{.+}} : tensor<?xi32> -> tensor<?xf32>
  // CHECK: kiln.reshape %{{.+}} : tensor<?xf32> -> tensor<?x1xf32>
  // Angles are computed in f32, then cast to the input's type.
  // CHECK: %[[COS:.+]] = kiln.cos %{{.+}} : tensor<?x8xf32>
  // CHECK: %[[COSB:.+]] = kiln.cast %[[COS]] : tensor<?x8xf32> -> tensor<?x8xbf16>
  // CHECK: kiln.reshape %[[COSB]] : tensor<?x8xbf16> -> tensor<?x1x8xbf16>
  %0 = kiln.rotary %x, %p heads 2 theta 1.0e+04
      llama3_scaling <factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 16>
      : tensor<?x?x16xbf16>, tensor<?xi32>
  return %0 : tensor<?x?x16xbf16>
}

// -----

// T5's bidirectional buckets (encoder): 32 buckets split by direction, 8
// exact distances each, the rest log-spaced up to 128.
// CHECK-LABEL: func.func @relative_position_bias_bidirectional
// CHECK-SAME: (%[[T:[^:]+]]: tensor<32x8xf32>, %[[QP:[^:]+]]: tensor<?xi64>, %[[KP:[^:]+]]: tensor<?xi64>)
func.func @relative_position_bias_bidirectional(%t: tensor<32x8xf32>, %qp: tensor<?xi64>, %kp: tensor<?xi64>) -> tensor<1x8x?x?xf32> {
  // CHECK: %[[Q2:.+]] = kiln.reshape %[[QP]] : tensor<?xi64> -> tensor<?x1xi64>
  // CHECK: %[[K2:.+]] = kiln.reshape %[[KP]] : tensor<?xi64> -> tensor<1x?xi64>
  // CHECK: %[[REL:.+]] = kiln.sub %[[K2]], %[[Q2]] : tensor<1x?xi64>, tensor<?x1xi64> -> tensor<?x?xi64>
  // CHECK: %[[AFTER:.+]] = kiln.compare gt %[[REL]], %{{.+}} : tensor<?x?xi64>, tensor<i64> -> tensor<?x?xi1>
  // CHECK: %[[HALF:.+]] = kiln.constant dense<16> : tensor<i64>
  // CHECK: %[[BASE:.+]] = kiln.select %[[AFTER]], %[[HALF]], %{{.+}} : tensor<?x?xi1>, tensor<i64>, tensor<i64> -> tensor<?x?xi64>
  // CHECK: %[[DIST:.+]] = kiln.abs %[[REL]]
  // CHECK: %[[EXACT:.+]] = kiln.constant dense<8> : tensor<i64>
  // CHECK: %[[SMALL:.+]] = kiln.compare lt %[[DIST]], %[[EXACT]]
  // CHECK: kiln.log
  // CHECK: kiln.constant dense<2.77258873> : tensor<f32>
  // CHECK: %[[LARGE:.+]] = kiln.min %{{.+}}, %{{.+}} : tensor<?x?xi64>, tensor<i64> -> tensor<?x?xi64>
  // CHECK: %[[PICK:.+]] = kiln.select %[[SMALL]], %[[DIST]], %[[LARGE]]
  // CHECK: %[[BUCKET:.+]] = kiln.add %[[BASE]], %[[PICK]] : tensor<?x?xi64>
  // CHECK: %[[VALS:.+]] = kiln.embedding %[[T]][%[[BUCKET]]] : tensor<32x8xf32>, tensor<?x?xi64> -> tensor<?x?x8xf32>
  // CHECK: %[[TR:.+]] = kiln.transpose %[[VALS]] [2, 0, 1] : tensor<?x?x8xf32> -> tensor<8x?x?xf32>
  // CHECK: %[[OUT:.+]] = kiln.reshape %[[TR]] : tensor<8x?x?xf32> -> tensor<1x8x?x?xf32>
  // CHECK: return %[[OUT]]
  %0 = kiln.relative_position_bias %t, %qp, %kp bidirectional buckets 32 max_distance 128
      : tensor<32x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return %0 : tensor<1x8x?x?xf32>
}

// -----

// Decoder (unidirectional): only keys at or before the query get buckets.
// CHECK-LABEL: func.func @relative_position_bias_causal
func.func @relative_position_bias_causal(%t: tensor<32x8xf32>, %qp: tensor<?xi64>, %kp: tensor<?xi64>) -> tensor<1x8x?x?xf32> {
  // CHECK: %[[REL:.+]] = kiln.sub
  // CHECK: %[[ZERO:.+]] = kiln.constant dense<0> : tensor<i64>
  // CHECK: %[[MIN:.+]] = kiln.min %[[REL]], %[[ZERO]]
  // CHECK: %[[DIST:.+]] = kiln.neg %[[MIN]]
  // CHECK: kiln.constant dense<16> : tensor<i64>
  // CHECK: kiln.compare lt %[[DIST]]
  // CHECK: kiln.constant dense<2.07944155> : tensor<f32>
  // CHECK: kiln.constant dense<31> : tensor<i64>
  // CHECK-NOT: kiln.abs
  // CHECK: kiln.embedding
  %0 = kiln.relative_position_bias %t, %qp, %kp buckets 32 max_distance 128
      : tensor<32x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return %0 : tensor<1x8x?x?xf32>
}
