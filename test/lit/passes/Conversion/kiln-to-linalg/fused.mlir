// RUN: kiln-opt %s --kiln-fuse --kiln-to-linalg --canonicalize | FileCheck %s

// Rotary on q: one kiln.fused region becomes one linalg.generic over the
// result with no inputs. Its body reads q, cos and sin with tensor.extract
// at computed indices: the reshape's split of the last dim (div/rem by 8),
// cos and sin broadcast over the heads (index 0 on their static 1), and
// rotate-half's concat as a select between two clamped reads.
// CHECK-LABEL: func.func @rotary
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x?x32xf32>, %[[COS:[^:]+]]: tensor<?x1x8xf32>, %[[SIN:[^:]+]]: tensor<?x1x8xf32>)
// CHECK: %[[INIT:.+]] = tensor.empty(%{{.+}}, %{{.+}}) : tensor<?x?x32xf32>
// CHECK: %[[OUT:.+]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME: outs(%[[INIT]] : tensor<?x?x32xf32>)
// CHECK-DAG: arith.remui %{{.+}}, %c8
// CHECK-DAG: arith.divui %{{.+}}, %c8
// CHECK-DAG: tensor.extract %[[COS]][%{{.+}}, %c0, %{{.+}}]
// CHECK-DAG: tensor.extract %[[SIN]][%{{.+}}, %c0, %{{.+}}]
// CHECK-DAG: arith.negf
// CHECK-DAG: arith.select
// CHECK: linalg.yield
// CHECK-NOT: linalg.generic
// CHECK-NOT: kiln.
// CHECK: return %[[OUT]]
func.func @rotary(%q: tensor<?x?x32xf32>, %cos: tensor<?x1x8xf32>, %sin: tensor<?x1x8xf32>) -> tensor<?x?x32xf32> {
  %x = kiln.reshape %q : tensor<?x?x32xf32> -> tensor<?x?x4x8xf32>
  %x1 = kiln.slice %x dim 3 [0 : 4] : tensor<?x?x4x8xf32> -> tensor<?x?x4x4xf32>
  %x2 = kiln.slice %x dim 3 [4 : 8] : tensor<?x?x4x8xf32> -> tensor<?x?x4x4xf32>
  %n = kiln.neg %x2 : tensor<?x?x4x4xf32>
  %r = kiln.concat %n, %x1 dim 3 : tensor<?x?x4x4xf32>, tensor<?x?x4x4xf32> -> tensor<?x?x4x8xf32>
  %a = kiln.mul %x, %cos : tensor<?x?x4x8xf32>, tensor<?x1x8xf32> -> tensor<?x?x4x8xf32>
  %b = kiln.mul %r, %sin : tensor<?x?x4x8xf32>, tensor<?x1x8xf32> -> tensor<?x?x4x8xf32>
  %s = kiln.add %a, %b : tensor<?x?x4x8xf32>
  %y = kiln.reshape %s : tensor<?x?x4x8xf32> -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// GPT-2's input embedding: position ids (iota + offsets), two table
// lookups and their sum, one generic; ids are clamped into each table.
// CHECK-LABEL: func.func @embeddings
// CHECK: linalg.generic
// CHECK-COUNT-2: arith.minsi
// CHECK: arith.addf
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @embeddings(%ids: tensor<?x?xi64>, %start: tensor<?xi64>, %wte: tensor<101x48xf32>, %wpe: tensor<64x48xf32>) -> tensor<?x?x48xf32> {
  %i = kiln.iota %ids dim 1 : tensor<?x?xi64> -> tensor<?xi64>
  %s = kiln.reshape %start : tensor<?xi64> -> tensor<?x1xi64>
  %p = kiln.add %s, %i : tensor<?x1xi64>, tensor<?xi64> -> tensor<?x?xi64>
  %pe = kiln.embedding %wpe[%p] : tensor<64x48xf32>, tensor<?x?xi64> -> tensor<?x?x48xf32>
  %te = kiln.embedding %wte[%ids] : tensor<101x48xf32>, tensor<?x?xi64> -> tensor<?x?x48xf32>
  %e = kiln.add %te, %pe : tensor<?x?x48xf32>
  return %e : tensor<?x?x48xf32>
}
