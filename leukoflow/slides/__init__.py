"""What every whole-smear stage needs, whatever the dataset: the excitation heatmap (`heatmap`),
binary masks and their clean-up (`masks`), cell centroids on a mask (`centroids`), the red-cell
scale of a smear (`scale`) and its white cells found at that scale (`whitecells`).

Used by the ALL-IDB1 slide stage and by screening; imports no dataset package.
"""
