_base_ = ['./_base_/fcmae_in1k.py', './_base_/schedule_800e.py']
model = dict(arch='tiny')
