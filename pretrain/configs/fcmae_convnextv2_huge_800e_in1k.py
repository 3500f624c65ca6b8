_base_ = ['./_base_/fcmae_in1k.py', './_base_/schedule_800e.py']
model = dict(arch='huge')
train_dataloader = dict(batch_size=32)  # per GPU; accumulation keeps the effective batch at 4096
