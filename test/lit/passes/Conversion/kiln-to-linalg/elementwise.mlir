// RUN: kiln-opt %s --kiln-to-linalg --split-input-file | FileCheck %s

// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$LAST:.+]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @add_broadcast
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x?x768xf32>, %[[B:[^:]+]]: tensor<768xf32>)
// CHECK-DAG: %[[D0:.+]] = tensor.dim %[[X]], %c0
// CHECK-DAG: %[[D1:.+]] = tensor.dim %[[X]], %c1
// CHECK: %[[INIT:.+]] = tensor.empty(%[[D0]], %[[D1]]) : tensor<?x?x768xf32>
// CHECK: %[[R:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$LAST]], #[[$ID]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[X]], %[[B]] : tensor<?x?x768xf32>, tensor<768xf32>) outs(%[[INIT]] : tensor<?x?x768xf32>)
// CHECK: ^bb0(%[[A:.+]]: f32, %[[C:.+]]: f32, %{{.+}}: f32):
// CHECK-NEXT: %[[S:.+]] = arith.addf %[[A]], %[[C]] : f32
// CHECK-NEXT: linalg.yield %[[S]]
// CHECK: return %[[R]]
func.func @add_broadcast(%x: tensor<?x?x768xf32>, %b: tensor<768xf32>) -> tensor<?x?x768xf32> {
  %0 = kiln.add %x, %b : tensor<?x?x768xf32>, tensor<768xf32> -> tensor<?x?x768xf32>
  return %0 : tensor<?x?x768xf32>
}

// -----

// A static size-1 dim broadcasts by reading index 0.
// CHECK-DAG: #[[$ONE:.+]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @broadcast_one
// CHECK: linalg.generic {indexing_maps = [#[[$ONE]], #[[$ROW]], #{{.+}}]
// CHECK: arith.addi
func.func @broadcast_one(%p: tensor<?x1xi64>, %s: tensor<?xi64>) -> tensor<?x?xi64> {
  %0 = kiln.add %p, %s : tensor<?x1xi64>, tensor<?xi64> -> tensor<?x?xi64>
  return %0 : tensor<?x?xi64>
}

// -----

// CHECK-LABEL: func.func @integer_and_compare
// CHECK: arith.divsi
// CHECK: arith.cmpi slt
// CHECK: arith.cmpf une
// CHECK: arith.select
func.func @integer_and_compare(%a: tensor<4xi64>, %f: tensor<4xf32>) -> (tensor<4xi64>, tensor<4xi1>, tensor<4xi1>, tensor<4xi64>) {
  %0 = kiln.div %a, %a : tensor<4xi64>
  %1 = kiln.compare lt %a, %a : tensor<4xi64>, tensor<4xi64> -> tensor<4xi1>
  %2 = kiln.compare ne %f, %f : tensor<4xf32>, tensor<4xf32> -> tensor<4xi1>
  %3 = kiln.select %1, %a, %0 : tensor<4xi1>, tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  return %0, %1, %2, %3 : tensor<4xi64>, tensor<4xi1>, tensor<4xi1>, tensor<4xi64>
}

// -----

// CHECK-LABEL: func.func @activations
// CHECK: math.erf
// CHECK: math.tanh
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.cmpf ogt
func.func @activations(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %0 = kiln.gelu erf %x : tensor<8xf32>
  %1 = kiln.gelu tanh %x : tensor<8xf32>
  %2 = kiln.silu %x : tensor<8xf32>
  %3 = kiln.relu %x : tensor<8xf32>
  return %0, %1, %2, %3 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// CHECK-LABEL: func.func @casts
// CHECK: arith.truncf %{{.+}} : f32 to bf16
// CHECK: arith.fptosi %{{.+}} : f32 to i64
// CHECK: arith.uitofp %{{.+}} : i1 to f32
// f16 -> bf16 goes exactly through f32.
// CHECK: %[[W:.+]] = arith.extf %{{.+}} : f16 to f32
// CHECK-NEXT: arith.truncf %[[W]] : f32 to bf16
func.func @casts(%x: tensor<4xf32>, %m: tensor<4xi1>, %h: tensor<4xf16>) -> (tensor<4xbf16>, tensor<4xi64>, tensor<4xf32>, tensor<4xbf16>) {
  %0 = kiln.cast %x : tensor<4xf32> -> tensor<4xbf16>
  %1 = kiln.cast %x : tensor<4xf32> -> tensor<4xi64>
  %2 = kiln.cast %m : tensor<4xi1> -> tensor<4xf32>
  %3 = kiln.cast %h : tensor<4xf16> -> tensor<4xbf16>
  return %0, %1, %2, %3 : tensor<4xbf16>, tensor<4xi64>, tensor<4xf32>, tensor<4xbf16>
}

// -----

// CHECK-LABEL: func.func @constant_and_iota
// CHECK-SAME: (%[[IDS:.+]]: tensor<?x?xi64>)
// CHECK: %[[C:.+]] = arith.constant dense<1.250000e-01> : tensor<f32>
// CHECK: %[[N:.+]] = tensor.dim %[[IDS]], %c1
// CHECK: %[[E:.+]] = tensor.empty(%[[N]]) : tensor<?xi64>
// CHECK: linalg.generic {{.+}} outs(%[[E]] : tensor<?xi64>)
// CHECK: %[[I:.+]] = linalg.index 0 : index
// CHECK: arith.index_cast %[[I]] : index to i64
func.func @constant_and_iota(%ids: tensor<?x?xi64>) -> (tensor<f32>, tensor<?xi64>) {
  %c = kiln.constant dense<0.125> : tensor<f32>
  %p = kiln.iota %ids dim 1 : tensor<?x?xi64> -> tensor<?xi64>
  return %c, %p : tensor<f32>, tensor<?xi64>
}
