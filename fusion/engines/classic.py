"""Classic landmark engine: works offline on any CPU, needs only the dlib landmarks.

For blend ratio b the face takes geometry target + b * (aligned source - target): the target's own
face region is morphed to that shape (so jaw and proportions follow the source), the source face is
piecewise-affine warped onto it, given the target's light, and composited with a feathered mask.
b = 0 gives the target back unchanged; identity moves steadily toward the source as b grows.
"""

from __future__ import annotations

import math
from functools import partial

import cv2
import numpy as np

from fusion import mesh
from fusion.blend import composite, face_mask, forehead_kept, overlay, poisson_offset, unsharp
from fusion.colour import highlight_offset, lighting_offset, match_colour
from fusion.engines.base import FacePatch, FaceRequest, face_region
from fusion.engines.shape import layout, shape_offset, target_mesh_points
from fusion.errors import Availability
from fusion.geometry import (
    apply_affine,
    fill_parts,
    invert_affine,
    near_side,
    side_weight,
    similarity_transform,
    smoothstep,
    turn,
)
from fusion.geometry import (
    face_size as landmark_face_size,
)
from fusion.hands import hand_silhouette, hands_near
from fusion.mediapipe_faces import MESH_HALF
from fusion.mesh import Raster
from fusion.occluders import object_mask, paint_out
from fusion.texture import detail_energy, face_regions, match_texture, measurable
from fusion.warp import border_anchors, folds, piecewise_affine_maps, smooth_maps, unfolding

CROP_MARGIN = 0.35  # around the landmarks, in face sizes: room for the morph to fade out
MOUTH_GAP_DIFFERENCE = 0.06  # lip gap difference (in face sizes) from which "auto" keeps the target's mouth


def mouth_gap(landmarks: np.ndarray, face_size: float) -> float:
    """How open the mouth is: the mean gap between the inner lips (68-point layout), in face sizes."""
    upper, lower = landmarks[[61, 62, 63]], landmarks[[67, 66, 65]]
    return float(np.linalg.norm(upper - lower, axis=1).mean()) / max(face_size, 1e-6)


def keeps_target_mouth(
    mouth: str, source_points: np.ndarray, target_points: np.ndarray, sizes: tuple[float, float]
) -> bool:
    """Whether the result shows the target's own mouth: asked for, or ("auto") when one mouth is
    open and the other closed (a smile with teeth on a closed-mouth face looks pasted)."""
    if mouth != "auto":
        return mouth == "target"
    return abs(mouth_gap(source_points, sizes[0]) - mouth_gap(target_points, sizes[1])) > MOUTH_GAP_DIFFERENCE


def keeps_target_part(choice: str, source_landmarks: np.ndarray, target_landmarks: np.ndarray) -> bool:
    """Whether the result shows the target's own eyes (`eyes`, under the source's lids and brows)
    or nose (`nose`): asked for, or ("auto") when part of the face is drawn from the source's
    mirror image (mirror_share). Eyes follow the head: a turned source's two eyes, one of them
    mirrored, would look opposite ways. A nose seen from the side has no front a 2-D warp could
    draw: its ridge and nostrils come out as a pale line, a dark mark between the brows and two
    side-on nostrils."""
    if choice != "auto":
        return choice == "target"
    return max(mirror_share(source_landmarks, target_landmarks)) > 0.0


NOSE = [21, 22, *range(27, 36)]  # from the brows' inner ends down the ridge to the nostrils


def _with_target_parts(
    mask: np.ndarray, points: np.ndarray, parts: tuple[list[int], ...], grow: float, feather: float
) -> np.ndarray:
    """The mask with feathered holes over `parts` (point index lists), grown by `grow` and
    feathered over `feather` pixels: there the target shows."""
    hole = fill_parts(points, mask.shape[0], mask.shape[1], parts).astype(np.float32)
    size = 2 * max(1, round(grow)) + 1
    hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    hole = cv2.GaussianBlur(hole, (0, 0), max(1.0, feather))
    return mask * (1.0 - hole)


def _unfolded(dst_points: np.ndarray, src_points: np.ndarray, anchors_from: int) -> np.ndarray:
    """Which points a map keeps: those that turn a triangle over are left out, outline and mesh
    points first; the crop's anchors always stay."""
    outline = np.r_[0:17, 68:anchors_from]
    return unfolding(dst_points, src_points, outline, anchors_from)


def _warp_source(
    source: np.ndarray,
    source_points: np.ndarray,
    out_points_local: np.ndarray,
    to_target: np.ndarray,
    origin: tuple[int, int],
    crop_size: tuple[int, int],
    surface: tuple[Raster, np.ndarray] | None = None,
) -> np.ndarray:
    """The source face warped onto `out_points_local`, as an RGB crop of `crop_size`. With
    `surface` = (the crop's mesh raster, the source's mesh points), the pixels the mesh covers
    sample the same place of the source's mesh instead."""
    width, height = crop_size
    anchors = border_anchors(width, height)
    to_source = invert_affine(to_target)
    anchors_in_source = apply_affine(to_source, anchors + np.array(origin, np.float32))
    src_all = np.vstack([source_points, anchors_in_source])
    # Work from a source window at about the output's scale: downscaling first avoids aliasing.
    source_per_output = 1.0 / math.sqrt(abs(np.linalg.det(to_target[:, :2])))
    sx0, sy0 = np.floor(src_all.min(axis=0)).astype(int) - 2
    sx1, sy1 = np.ceil(src_all.max(axis=0)).astype(int) + 2
    sx0, sy0 = max(0, sx0), max(0, sy0)
    sx1, sy1 = min(source.shape[1], sx1), min(source.shape[0], sy1)
    window = source[sy0:sy1, sx0:sx1]
    scale = np.ones(2, np.float32)
    if source_per_output > 1.5 and window.size:
        shrink = 1.0 / source_per_output
        size = (max(1, round(window.shape[1] * shrink)), max(1, round(window.shape[0] * shrink)))
        window = cv2.resize(window, size, interpolation=cv2.INTER_AREA)
        scale = np.array([size[0] / (sx1 - sx0), size[1] / (sy1 - sy0)], np.float32)
    src_local = (src_all - np.array([sx0, sy0], np.float32)) * scale
    dst_all = np.vstack([out_points_local, anchors])
    keep = _unfolded(dst_all, src_local, len(out_points_local))
    map_x, map_y = piecewise_affine_maps(dst_all[keep], src_local[keep], width, height)
    if surface is not None:
        raster, source_mesh = surface
        mapped = raster.interpolate((source_mesh - np.array([sx0, sy0], np.float32)) * scale)
        # From the landmark map at the mesh's edge to the mesh's over MESH_FEATHER of a face: where
        # a larger mask reaches past the mesh, the two may sample places a few pixels apart.
        feather = max(1.0, MESH_FEATHER * landmark_face_size(out_points_local[:68]))
        edge = cv2.distanceTransform(raster.inside.astype(np.uint8), cv2.DIST_L2, 3)[raster.inside]
        weight = np.clip(edge / feather, 0.0, 1.0)
        inside_x, inside_y = map_x[raster.inside], map_y[raster.inside]
        map_x[raster.inside] = inside_x + weight * (mapped[:, 0] - inside_x)
        map_y[raster.inside] = inside_y + weight * (mapped[:, 1] - inside_y)
    interpolation = cv2.INTER_CUBIC if source_per_output < 0.8 else cv2.INTER_LINEAR
    warped = cv2.remap(window, map_x, map_y, interpolation, borderMode=cv2.BORDER_REFLECT)
    if source_per_output < 0.8:
        # Stage-2 detail: the source face is enlarged here, so restore edge contrast in proportion.
        upscale = 1.0 / source_per_output
        warped = unsharp(warped, min(0.8, 0.35 * math.log2(upscale)), 0.6 * upscale)
    return warped


MIRROR_TURN = (0.5, 0.9)  # how much more the source is turned than the target: no mirror .. all mirror


def mirror_share(source_landmarks: np.ndarray, target_landmarks: np.ndarray) -> tuple[float, float]:
    """How much of each side (that of points 0..3, that of 13..16) the mirrored source should fill.

    A side turned away from the camera is foreshortened or hidden, and beyond it lies the
    background: stretched onto a target that shows that side, it smears. The source's other side,
    mirrored, shows it instead, when the source is turned that way well past the target.
    """
    source_turn, target_turn = turn(source_landmarks), turn(target_landmarks)
    left = smoothstep(-source_turn - max(0.0, -target_turn), *MIRROR_TURN)
    right = smoothstep(source_turn - max(0.0, target_turn), *MIRROR_TURN)
    return float(left), float(right)


MIRROR_BETTER = (0.15, 0.5)  # how much better the mirror image shows a triangle (mesh.visibility)
OWN_SEEN = (0.6, 0.25)  # how well the source shows its own triangle: none .. all from the mirror
MIRROR_SOFTNESS = 0.03  # the step between the two, in face sizes


def mirror_weights(
    source_mesh: np.ndarray, mirror_mesh: np.ndarray, halves: tuple[float, float]
) -> np.ndarray:
    """(468,) per mesh point, how much of the source's texture there to take from its mirror image:
    where the source's own triangles are hidden or edge-on and their mirror images are seen well
    (a turned source's far side), on each half of the face at most `halves` (mirror_share: only
    where the target shows that side better than the source does)."""
    own, mirrored = mesh.visibility(source_mesh), mesh.visibility(mirror_mesh)
    share = mesh.per_vertex(smoothstep(mirrored - own, *MIRROR_BETTER) * smoothstep(own, *OWN_SEEN))
    return share * (halves[0] * (1.0 - MESH_HALF) + halves[1] * MESH_HALF)


def _fill_turned_away(
    warped: np.ndarray,
    request: FaceRequest,
    dense: bool,
    out_local: np.ndarray,
    origin: tuple[int, int],
    raster: Raster | None,
) -> np.ndarray:
    """`warped` with the side the source turns away drawn from the source's mirror image instead
    (on each half at most mirror_share): triangle by triangle where the mesh covers the crop
    (`raster`, mirror_weights, a soft step), else by halves, meeting in a narrow step down the nose."""
    source, source_face, _, target_face, _ = request.unpack()
    left, right = mirror_share(source_face.landmarks, target_face.landmarks)
    if not (left or right):
        return warped
    height, width = warped.shape[:2]
    mirror_face = source_face.mirrored(source.shape[1])
    if raster is not None and source_face.mesh is not None and mirror_face.mesh is not None:
        share = raster.image(mirror_weights(source_face.mesh, mirror_face.mesh, (left, right)))
        share = cv2.GaussianBlur(share, (0, 0), MIRROR_SOFTNESS * target_face.size)
        surface: tuple[Raster, np.ndarray] | None = (raster, mirror_face.mesh[:, :2])
    else:
        side = side_weight(out_local, width, height, 0.03 * target_face.size)
        share, surface = left * side + right * (1.0 - side), None
    if share.max() <= 0.0:
        return warped
    mirror_to_target = similarity_transform(mirror_face.landmarks, target_face.landmarks)
    mirrored = _warp_source(
        cv2.flip(source, 1),
        layout(mirror_face, dense),
        out_local,
        mirror_to_target,
        origin,
        (width, height),
        surface,
    )
    share = share[:, :, None]
    return (warped * (1.0 - share) + mirrored * share + 0.5).astype(np.uint8)


MESH_FEATHER = 0.03  # see _warp_source


def _target_raster(
    request: FaceRequest, origin: tuple[int, int], size: tuple[int, int], keep_mouth: bool
) -> Raster | None:
    """The target's mesh at target_mesh_points rasterised on the crop, or None. A turned face's far
    side is hidden or foreshortened, which the mesh's triangles tell apart (mirror_weights) and a
    landmark map cannot: on a profile target the map smears the source's far cheek across the nose.
    (Drawing every pair on the mesh cost likeness on the benchmark's frontal pairs: median 0.414 ->
    0.423.)"""
    points = target_mesh_points(request, keep_mouth)
    if points is None or request.target_face.mesh is None:
        return None
    local = points - np.array(origin, np.float32)
    return mesh.rasterise(local, request.target_face.mesh[:, 2], size[0], size[1])


MORPH_REACH = CROP_MARGIN  # how far beyond the face's points the morph fades out, in face sizes


def _morph_target(
    crop: np.ndarray, target_local: np.ndarray, out_local: np.ndarray, face_size: float
) -> np.ndarray:
    """The target crop reshaped so its landmarks move to `out_local`, smoothly (warp.smooth_maps):
    hair and collar lines beside the face bend gently instead of kinking at triangle edges, and
    beyond MORPH_REACH nothing moves. Points that would turn a piecewise map's triangle over (a
    turned head's far outline across its nose) are left out here too: they pull the spline apart."""
    height, width = crop.shape[:2]
    anchors = border_anchors(width, height)
    keep = _unfolded(np.vstack([out_local, anchors]), np.vstack([target_local, anchors]), len(out_local))
    keep = keep[keep < len(out_local)]
    map_x, map_y = smooth_maps(out_local[keep], target_local[keep], width, height, MORPH_REACH * face_size)
    # Cubic: bilinear resampling visibly softens the target's skin and hair around the new face.
    return cv2.remap(crop, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


class ClassicEngine:
    name = "classic"
    upscales_itself = False

    def availability(self) -> Availability:
        return Availability(True)

    def fuse_face(self, request: FaceRequest) -> FacePatch:
        source, source_face, target, target_face, options = request.unpack()
        ratio = options.blend_ratio
        face_size = target_face.size
        to_target = similarity_transform(source_face.landmarks, target_face.landmarks)
        # Both faces meshed: the mesh's inner points (cheeks, nose, chin, under the eyes) tie the
        # source's features to the same places on the target, not just the outline and features;
        # unless the two poses differ so much that the finer triangles would turn over.
        dense = source_face.mesh is not None and target_face.mesh is not None
        target_points, source_points = layout(target_face, dense), layout(source_face, dense)
        out_points = target_points + ratio * shape_offset(
            source_face, target_face, partial(layout, dense=dense)
        )
        if dense and folds(out_points, apply_affine(to_target, source_points)):
            dense = False
            target_points, source_points = layout(target_face, dense), layout(source_face, dense)
            out_points = target_points + ratio * shape_offset(source_face, target_face, layout)
        # A profile's far outline stays (geometry.near_side), the rest moves.
        still = near_side(target_points, target_points, face_size, at_midline=0.5)[:, None]
        out_points = target_points + (out_points - target_points) * still
        keep_mouth = keeps_target_mouth(
            options.mouth, source_face.landmarks, target_face.landmarks, (source_face.size, face_size)
        )
        if keep_mouth:  # the target's own mouth, where it is: its shape is not morphed toward the source's
            out_points[48:68] = target_points[48:68]
        region = face_region(target, out_points, face_size, CROP_MARGIN, also=target_points)
        crop, origin, out_local = region.crop, region.origin, region.local
        height, width = crop.shape[:2]

        target_local = target_points - np.array(origin, np.float32)
        background = _morph_target(crop, target_local, out_local, face_size)
        raster = _target_raster(request, origin, (width, height), keep_mouth)
        surface = None if raster is None or source_face.mesh is None else (raster, source_face.mesh[:, :2])
        warped = _warp_source(source, source_points, out_local, to_target, origin, (width, height), surface)
        warped = _fill_turned_away(warped, request, dense, out_local, origin, raster)
        kept = forehead_kept(source, source_points[:78], source_face.size)
        # A thin dark object over the target's face (a glasses frame) stays in front of the new one;
        # one over the source's is painted out. A hand over either is left out of the mask: the
        # target's own (the pipeline puts it back in front), and the source's, so that the target's
        # face shows there (placed by the faces' similarity, so grown a little).
        objects = object_mask(background, out_local, face_size)
        source_hands = [
            apply_affine(to_target, hand.points)
            for hand in hands_near(source, source_face.landmarks, source_face.size)
        ]
        if request.target_hands or source_hands:
            factor, grid = max(1.0, face_size / 128.0), (objects.shape[1], objects.shape[0])
            objects |= hand_silhouette(request.target_hands, grid, origin, factor)
            grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
            theirs = hand_silhouette(source_hands, grid, origin, factor).astype(np.uint8)
            objects |= cv2.dilate(theirs, grow).astype(bool)
        warped = paint_out(warped, object_mask(warped, out_local, face_size))
        mask = face_mask(
            out_local, width, height, face_size, options.mask_size, (background, warped), kept, objects
        )
        if keep_mouth:  # the lips, grown a little
            mask = _with_target_parts(
                mask, out_local, (list(range(48, 60)),), 0.04 * face_size, 0.03 * face_size
            )
        if keeps_target_part(options.nose, source_face.landmarks, target_face.landmarks):
            mask = _with_target_parts(mask, out_local, (NOSE,), 0.02 * face_size, 0.04 * face_size)
        if keeps_target_part(options.eyes, source_face.landmarks, target_face.landmarks):
            openings = (list(range(36, 42)), list(range(42, 48)))
            mask = _with_target_parts(mask, out_local, openings, 0.015 * face_size, 0.012 * face_size)
        if options.mode != "blend":
            warped = match_colour(warped, background, out_local, face_size, mask)
        face = warped.astype(np.float32)
        if options.mode == "blend":
            face += poisson_offset(warped, background, mask, face_size)
        else:
            face += lighting_offset(background, warped, out_local, face_size, mask)
            face += highlight_offset(background, face, out_local, face_size, mask)
            if options.mode == "overlay":
                face = overlay(background.astype(np.float32), np.clip(face, 0, 255))
        if ratio < 1.0:
            face = cv2.addWeighted(face, ratio, background.astype(np.float32), 1.0 - ratio, 0.0)
        # The target's skin and feature detail, measured on the crop itself: the morph's resampling
        # softens it. Where the mask holds only, away from the objects it leaves out: an object
        # over either face (and its border) is not skin.
        visible = measurable(mask, objects)
        skin, features = face_regions(target_local, width, height, face_size)
        wanted = (detail_energy(crop, skin & visible), detail_energy(crop, features & visible))
        skin, features = face_regions(out_local, width, height, face_size)
        face = match_texture(face, (skin & visible, features & visible), wanted)
        return FacePatch(composite(background, face, mask), origin, mask, out_points)
