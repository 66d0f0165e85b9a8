"""GeoJSON as QuPath imports detections, and overlays that show every cell."""

import json

import numpy as np
import pandas as pd

from leukoflow.screen.outputs import geojson, overlay, write_image_outputs


def cells():
    return pd.DataFrame(
        {
            "cell": [1, 2],
            "x0": [10, 60],
            "y0": [12, 20],
            "x1": [40, 90],
            "y1": [44, 50],
            "diameter_px": [31.0, 30.0],
            "p_all": [0.93, 0.1],
            "p_all_sd": [0.02, 0.05],
            "abnormal": [True, False],
            "in_domain": [True, True],
            "feature_ratio": [0.4, 0.6],
        }
    )


def test_geojson_is_a_feature_collection_of_qupath_detections():
    document = geojson("img", cells(), "ALL", 0.5)
    assert document["type"] == "FeatureCollection" and len(document["features"]) == 2
    feature = document["features"][0]
    ring = feature["geometry"]["coordinates"][0]
    assert feature["geometry"]["type"] == "Polygon" and ring[0] == ring[-1] and ring[0] == [10.0, 12.0]
    properties = feature["properties"]
    assert properties["objectType"] == "detection"
    assert properties["classification"]["name"] == "ALL" and len(properties["classification"]["color"]) == 3
    assert properties["measurements"]["P(ALL)"] == 0.93
    assert document["features"][1]["properties"]["classification"]["name"] == "healthy"
    # Stable ids: importing twice updates the same objects.
    assert feature["id"] == geojson("img", cells(), "ALL", 0.5)["features"][0]["id"]
    assert geojson("img", cells(), "not assessed", 0.5)["features"][0]["properties"]["classification"]["name"] == (
        "not assessed"
    )


def test_overlay_and_files(tmp_path):
    rgb = np.full((80, 120, 3), 200, np.uint8)
    picture = overlay(rgb, cells(), "ALL", "img: ALL")
    pixels = np.asarray(picture)
    assert picture.size == (120, 98)  # the caption bar on top
    assert (pixels[18 + 30, 10] == (220, 30, 30)).all()  # the abnormal cell's box edge, red
    row = pd.Series({"verdict": "ALL", "reason": ""})
    write_image_outputs(rgb, "img", cells(), row, 0.5, tmp_path / "o", tmp_path / "g")
    assert (tmp_path / "o" / "img.png").exists()
    assert len(json.loads((tmp_path / "g" / "img.geojson").read_text())["features"]) == 2
